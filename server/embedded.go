package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// StartNATS starts a NATS server with JetStream inside this process,
// storing under dir (a temporary folder, removed at shutdown, when dir is
// ""). It listens on listen (host:port) only when that is set: otherwise
// only this process connects (nats.InProcessServer).
func StartNATS(dir, listen string) (*natsserver.Server, error) {
	opts := &natsserver.Options{ServerName: "sdgo", JetStream: true, StoreDir: dir, NoSigs: true, DontListen: listen == ""}
	temp := dir == ""
	if temp {
		d, err := os.MkdirTemp("", "sdgo-nats-")
		if err != nil {
			return nil, err
		}
		opts.StoreDir = d
	}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("--nats-listen %q: bad port", listen)
		}
		if opts.Port == 0 {
			opts.Port = natsserver.RANDOM_PORT
		}
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats server: not ready after 10 s")
	}
	if temp {
		go func() { ns.WaitForShutdown(); os.RemoveAll(opts.StoreDir) }()
	}
	return ns, nil
}

// NewEmbeddedQueue starts a NATS server in this process (see StartNATS)
// and returns a JetStream queue on it; the queue's Close shuts it down.
// With dir "" everything is kept in memory.
func NewEmbeddedQueue(dir, listen string, opts JetStreamOptions) (*JetStreamQueue, error) {
	ns, err := StartNATS(dir, listen)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("sdgo"))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("nats: %w", err)
	}
	if dir == "" {
		opts.Memory = true
	}
	q, err := NewJetStreamQueue(nc, opts)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	q.OnClose(func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown() })
	return q, nil
}
