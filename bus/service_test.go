package bus_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/madbase/madbase/bus"
)

func TestServiceVersion(t *testing.T) {
	for in, want := range map[string]string{"dev": "0.0.0", "": "0.0.0", "1.2.3": "1.2.3", "v1.2.3": "1.2.3",
		"1.2.3-rc.1": "1.2.3-rc.1", "1.2": "0.0.0", "abc123-dirty": "0.0.0"} {
		assert.Equal(t, want, bus.ServiceVersion(in), in)
	}
}
