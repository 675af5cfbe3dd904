package worker

import (
	"errors"
	"net"
	"testing"

	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdvertiseURL(t *testing.T) {
	t.Parallel()
	ln := &net.TCPAddr{IP: net.IPv4zero, Port: 8002}
	addrs := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("fd00::2"), Mask: net.CIDRMask(64, 128)},
			&net.IPNet{IP: net.IPv4(169, 254, 1, 1), Mask: net.CIDRMask(16, 32)},
			&net.IPNet{IP: net.IPv4(172, 18, 0, 5), Mask: net.CIDRMask(16, 32)},
			&net.IPNet{IP: net.IPv4(10, 0, 0, 9), Mask: net.CIDRMask(8, 32)},
		}, nil
	}
	for _, tc := range []struct {
		name string
		cfg  config.Worker
		want string
	}{
		{"default is loopback", config.Worker{}, "http://127.0.0.1:8002"},
		{"explicit URL wins", config.Worker{AdvertiseURL: "http://w1:9", AdvertiseHost: "auto"}, "http://w1:9"},
		{"auto is the first non-loopback IPv4", config.Worker{AdvertiseHost: "auto"}, "http://172.18.0.5:8002"},
		{"a host name", config.Worker{AdvertiseHost: "worker-3"}, "http://worker-3:8002"},
		{"an IPv6 address", config.Worker{AdvertiseHost: "fd00::2"}, "http://[fd00::2]:8002"},
	} {
		got, err := advertiseURL(tc.cfg, ln, addrs)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}

	_, err := advertiseURL(config.Worker{AdvertiseHost: "auto"}, ln, func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)}}, nil
	})
	require.ErrorContains(t, err, "no non-loopback IPv4")
	_, err = advertiseURL(config.Worker{AdvertiseHost: "auto"}, ln, func() ([]net.Addr, error) { return nil, errors.New("boom") })
	require.ErrorContains(t, err, "boom")
}

func TestAdvertiseHostValidated(t *testing.T) {
	t.Parallel()
	for host, ok := range map[string]bool{"auto": true, "worker": true, "10.0.0.1": true, "fd00::2": true, "a b": false, "w/x": false, "w:1": false} {
		var cfg config.Worker
		require.NoError(t, config.Load(&cfg, config.Map(map[string]string{"WORKER_ADVERTISE_HOST": host})))
		err := cfg.Validate(true)
		if ok {
			assert.NoError(t, err, host)
		} else {
			assert.ErrorContains(t, err, "WORKER_ADVERTISE_HOST", host)
		}
	}
}
