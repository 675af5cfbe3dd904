package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Network is a set of hosts, each a Linux network namespace with one veth
// pair whose outer end is a port of a bridge in the root namespace. The
// bridge holds the subnet's first address, so the root namespace (the drill
// itself, and PostgreSQL) is one more host on the subnet. Names carry the
// creating process's id, so parallel runs do not collide and a later run can
// delete what a killed run left behind.
type Network struct {
	ip     string
	prefix string // "10.77.<n>."
	tag    string // "<pid><letter>"
	Bridge string

	mu    sync.Mutex
	hosts []*Host
}

// Host is one namespace on the bridge.
type Host struct {
	Name string // the drill's name for it: "worker-1"
	NS   string // the namespace
	Veth string // the outer end of its veth pair, in the root namespace
	IP   string
}

const (
	nsPrefix     = "madbase-drill-"
	bridgePrefix = "mdb"
	subnetBase   = "10.77."
)

var networkSeq struct {
	sync.Mutex
	n int
}

// LookIP returns the path of the ip command, or an error saying why the
// drill cannot build a network here.
func LookIP() (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("the drill needs root to create network namespaces (CI runs as root)")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return "", fmt.Errorf("the drill needs the ip command (apt-get install iproute2): %w", err)
	}
	return ip, nil
}

// NewNetwork removes what dead earlier runs left, picks a free /24 under
// 10.77.0.0/16 and creates the bridge.
func NewNetwork(ctx context.Context, ip string) (*Network, error) {
	removeStale(ctx, ip)
	networkSeq.Lock()
	letter := string(rune('a' + networkSeq.n%26))
	networkSeq.n++
	networkSeq.Unlock()
	n := &Network{ip: ip, tag: strconv.Itoa(os.Getpid()) + letter}
	n.Bridge = bridgePrefix + n.tag
	used, err := usedSubnets(ctx, ip)
	if err != nil {
		return nil, err
	}
	var free []int
	for i := 1; i < 255; i++ {
		if !used[i] {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		return nil, errors.New("no free /24 under 10.77.0.0/16")
	}
	n.prefix = subnetBase + strconv.Itoa(free[rand.IntN(len(free))]) + "."
	for _, args := range [][]string{
		{"link", "add", n.Bridge, "type", "bridge"},
		{"addr", "add", n.RootIP() + "/24", "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	} {
		if err := n.run(ctx, args...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// RootIP is the bridge's address: the root namespace seen from the hosts.
func (n *Network) RootIP() string { return n.prefix + "1" }

// AddHost creates a namespace named after name with the address
// <subnet>.<octet>, loopback up and a veth to the bridge.
func (n *Network) AddHost(ctx context.Context, name string, octet int) (*Host, error) {
	n.mu.Lock()
	idx := len(n.hosts)
	h := &Host{Name: name, NS: nsPrefix + n.tag + "-" + name, Veth: fmt.Sprintf("%s%sv%d", bridgePrefix, n.tag, idx),
		IP: n.prefix + strconv.Itoa(octet)}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	if len(h.Veth) > 15 {
		return nil, fmt.Errorf("interface name %s is longer than the kernel allows", h.Veth)
	}
	for _, args := range [][]string{
		{"netns", "add", h.NS},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"link", "set", h.Veth, "master", n.Bridge, "up"},
		{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
	} {
		if err := n.run(ctx, args...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// SetLink takes a host's veth down (the host is cut off: its packets are
// dropped, connections stall as on a pulled cable) or up again.
func (n *Network) SetLink(ctx context.Context, h *Host, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return n.run(ctx, "link", "set", h.Veth, state)
}

// Command runs bin inside the host's namespace (ip netns exec execs it, so
// the process is bin itself: signals reach it directly).
func (n *Network) Command(h *Host, bin string, args ...string) *exec.Cmd {
	return exec.Command(n.ip, append([]string{"netns", "exec", h.NS, bin}, args...)...)
}

// Close deletes every namespace (which deletes their veths) and the bridge.
func (n *Network) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.mu.Lock()
	hosts := n.hosts
	n.mu.Unlock()
	for _, h := range hosts {
		_ = n.run(ctx, "link", "del", h.Veth)
		_ = n.run(ctx, "netns", "del", h.NS)
	}
	_ = n.run(ctx, "link", "del", n.Bridge)
}

func (n *Network) run(ctx context.Context, args ...string) error {
	return runIP(ctx, n.ip, args...)
}

func runIP(ctx context.Context, ip string, args ...string) error {
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var subnetRE = regexp.MustCompile(`inet 10\.77\.(\d+)\.`)

func usedSubnets(ctx context.Context, ip string) (map[int]bool, error) {
	out, err := exec.CommandContext(ctx, ip, "-4", "-o", "addr").Output()
	if err != nil {
		return nil, fmt.Errorf("ip -4 -o addr: %w", err)
	}
	used := map[int]bool{}
	for _, m := range subnetRE.FindAllSubmatch(out, -1) {
		i, _ := strconv.Atoi(string(m[1]))
		used[i] = true
	}
	return used, nil
}

var (
	staleNSRE     = regexp.MustCompile(`^` + nsPrefix + `(\d+)[a-z]-`)
	staleBridgeRE = regexp.MustCompile(`^\d+: (` + bridgePrefix + `(\d+)[a-z](v\d+)?)[@:]`)
)

// removeStale deletes namespaces and links of drill runs whose process is
// gone (a run killed by go test's timeout runs no cleanup).
func removeStale(ctx context.Context, ip string) {
	dead := func(pid string) bool {
		p, err := strconv.Atoi(pid)
		if err != nil || p == os.Getpid() {
			return false
		}
		return syscall.Kill(p, 0) == syscall.ESRCH
	}
	if out, err := exec.CommandContext(ctx, ip, "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			if m := staleNSRE.FindStringSubmatch(name); m != nil && dead(m[1]) {
				_ = runIP(ctx, ip, "netns", "del", name)
			}
		}
	}
	if out, err := exec.CommandContext(ctx, ip, "-o", "link").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if m := staleBridgeRE.FindStringSubmatch(line); m != nil && dead(m[2]) {
				_ = runIP(ctx, ip, "link", "del", m[1])
			}
		}
	}
}
