package config

import (
	"errors"
	"time"
)

// Realtime configures /realtime/v1 (WebSocket channels, broadcast, presence
// and postgres_changes).
type Realtime struct {
	RealtimeMaxChannels        int           `env:"REALTIME_MAX_CHANNELS_PER_SOCKET" default:"100" desc:"Most channels one realtime WebSocket may join (ChannelRateLimitReached beyond)."`
	RealtimeMaxMessageBytes    int           `env:"REALTIME_MAX_MESSAGE_BYTES" default:"3072000" desc:"Largest realtime frame or broadcast payload accepted, in bytes."`
	RealtimeMaxJoinsPerSecond  int           `env:"REALTIME_MAX_JOINS_PER_SECOND" default:"100" desc:"Most channel joins per second on one realtime WebSocket (ClientJoinRateLimitReached beyond)."`
	RealtimeMaxEventsPerSecond int           `env:"REALTIME_MAX_EVENTS_PER_SECOND" default:"1000" desc:"Most broadcast and presence messages per second one realtime WebSocket may send; beyond, the channel gets a system error and is closed."`
	RealtimePresenceExpiry     time.Duration `env:"REALTIME_PRESENCE_EXPIRY" default:"3s" desc:"How long presences tracked on a worker that stopped beating stay visible to the other workers."`
}

// Validate checks the realtime settings; zero values mean the defaults.
func (c *Realtime) Validate() error {
	var errs []error
	if c.RealtimeMaxChannels < 0 {
		errs = append(errs, errors.New("REALTIME_MAX_CHANNELS_PER_SOCKET: must not be negative"))
	}
	if c.RealtimeMaxMessageBytes < 0 {
		errs = append(errs, errors.New("REALTIME_MAX_MESSAGE_BYTES: must not be negative"))
	}
	if c.RealtimeMaxJoinsPerSecond < 0 {
		errs = append(errs, errors.New("REALTIME_MAX_JOINS_PER_SECOND: must not be negative"))
	}
	if c.RealtimeMaxEventsPerSecond < 0 {
		errs = append(errs, errors.New("REALTIME_MAX_EVENTS_PER_SECOND: must not be negative"))
	}
	if c.RealtimePresenceExpiry != 0 && c.RealtimePresenceExpiry < time.Second {
		errs = append(errs, errors.New("REALTIME_PRESENCE_EXPIRY: must be at least 1s"))
	}
	return errors.Join(errs...)
}
