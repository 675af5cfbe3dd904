// Package embedded runs a NATS server inside the process, for the one-process
// `madbase dev` mode and for tests.
package embedded

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// Host to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free port.
	Port int
	// StoreDir keeps JetStream data on disk; empty keeps it in memory.
	StoreDir string
	// Logs enables the server's own logging to stderr.
	Logs bool
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
	tempDir string // removed on Stop
}

// Start starts a NATS server with JetStream and waits until it accepts
// connections.
func Start(opts Options) (*Server, error) {
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{
		ServerName:         "madbase-embedded",
		Host:               host,
		Port:               port,
		NoSigs:             true,
		NoLog:              !opts.Logs,
		JetStream:          true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
	}
	if opts.StoreDir != "" {
		if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("nats store dir: %w", err)
		}
		so.StoreDir = opts.StoreDir
	} else {
		dir, err := os.MkdirTemp("", "madbase-nats-*")
		if err != nil {
			return nil, err
		}
		so.StoreDir = dir
		so.JetStreamMaxStore = 0
	}
	tempDir := ""
	if opts.StoreDir == "" {
		tempDir = so.StoreDir
	}
	ns, err := server.NewServer(so)
	if err != nil {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if opts.Logs {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return &Server{Server: ns, tempDir: tempDir}, nil
}

// URL is the client URL of the server.
func (s *Server) URL() string { return s.ClientURL() }

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}
