package pool

import (
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
