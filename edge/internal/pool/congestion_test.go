package pool

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCongestionForWorkers(t *testing.T) {
	all := func(string) bool { return true }
	renoOnly := func(name string) bool { return name == "reno" }
	none := func(string) bool { return false }
	for _, tt := range []struct {
		name, def string
		allowed   func(string) bool
		want      string
	}{
		{"the default kept", "cubic", all, ""},
		{"another default kept", "dctcp", all, ""},
		{"bbr replaced", "bbr", all, "cubic"},
		{"a newer bbr replaced", "bbr3", all, "cubic"},
		{"reno where cubic is not allowed", "bbr", renoOnly, "reno"},
		{"bbr kept when nothing else is allowed", "bbr", none, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, congestionFor(tt.def, tt.allowed))
		})
	}
}

func TestLocalClients(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "172.16.0.9": true, "192.168.1.20": true, "fd00::7": true,
		"8.8.8.8": false, "2001:db8::1": false, "100.64.0.1": false, "172.32.0.1": false,
	} {
		assert.Equal(t, want, Local(netip.MustParseAddr(addr)), addr)
	}
}
