package lifecycle

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
)

// InstanceID names one running instance of a tier when INSTANCE_ID is not
// set: "<tier>-<host>-<random>", unique across restarts and machines, and
// safe as a NATS subject token.
func InstanceID(tier string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	host = strings.NewReplacer(".", "-", " ", "-", "*", "-", ">", "-").Replace(strings.ToLower(host))
	var b [3]byte
	_, _ = rand.Read(b[:])
	return tier + "-" + host + "-" + hex.EncodeToString(b[:])
}
