package worker

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/scaffold"
)

// advertiseURL is the URL announced in heartbeats: WORKER_ADVERTISE_URL when
// set, otherwise http://<WORKER_ADVERTISE_HOST>:<listening port>, where the
// host "auto" is this machine's first non-loopback IPv4 address (what a
// container scaled to several replicas must announce) and the default is
// 127.0.0.1. addrs lists the machine's addresses (net.InterfaceAddrs).
func advertiseURL(cfg config.Worker, ln net.Addr, addrs func() ([]net.Addr, error)) (string, error) {
	if cfg.AdvertiseURL != "" {
		return cfg.AdvertiseURL, nil
	}
	u, err := url.Parse(scaffold.URL(ln))
	if err != nil {
		return "", err
	}
	host := cfg.AdvertiseHost
	switch host {
	case "":
		host = "127.0.0.1"
	case "auto":
		ip, err := firstNonLoopbackIPv4(addrs)
		if err != nil {
			return "", fmt.Errorf("WORKER_ADVERTISE_HOST=auto: %w", err)
		}
		host = ip.String()
	}
	return "http://" + net.JoinHostPort(host, u.Port()), nil
}

func firstNonLoopbackIPv4(addrs func() ([]net.Addr, error)) (net.IP, error) {
	as, err := addrs()
	if err != nil {
		return nil, fmt.Errorf("listing this machine's addresses: %w", err)
	}
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if ip4 := ip.To4(); ip4 != nil && !ip4.IsLoopback() && !ip4.IsUnspecified() && !ip4.IsLinkLocalUnicast() {
			return ip4, nil
		}
	}
	return nil, errors.New("this machine has no non-loopback IPv4 address; set WORKER_ADVERTISE_URL")
}
