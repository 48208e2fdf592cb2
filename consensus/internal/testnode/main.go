// Command testnode runs one consensus.Node over TLS on loopback, for the
// multi-process tests of package consensus (real processes, SIGKILL, fsync).
// It is not part of haven's CLI. On SIGTERM it writes its state snapshot to
// DIR/state.json and exits; on SIGKILL it just dies.
//
//	testnode -name a -dir /tmp/a -nodes a=127.0.0.1:7001,b=127.0.0.1:7002 -key HEX [-profile fast]
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testnode:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "", "this node's name")
	dir := flag.String("dir", "", "data directory")
	nodes := flag.String("nodes", "", "name=127.0.0.1:port,...")
	keyHex := flag.String("key", "", "cluster key, hex")
	profile := flag.String("profile", model.ProfileFast, "timing profile")
	snapThreshold := flag.Uint64("snapshot-threshold", 0, "raft SnapshotThreshold and TrailingLogs (0: default)")
	snapInterval := flag.Duration("snapshot-interval", 0, "raft SnapshotInterval (0: default)")
	witness := flag.String("witness", "", "name of the node that is a witness (role: witness)")
	flag.Parse()
	key, err := hex.DecodeString(*keyHex)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	c := &model.Cluster{Cluster: model.Settings{Name: "mp", Profile: *profile}}
	var bind string
	for _, kv := range strings.Split(*nodes, ",") {
		n, addr, ok := strings.Cut(kv, "=")
		host, port, err := net.SplitHostPort(addr)
		if !ok || err != nil {
			return fmt.Errorf("-nodes: %q is not name=host:port", kv)
		}
		p, _ := strconv.Atoi(port)
		nd := model.Node{Name: n, Addresses: []string{host}, RaftPort: p}
		if n == *witness {
			nd.Role = model.RoleWitness
		}
		c.Nodes = append(c.Nodes, nd)
		if n == *name {
			bind = addr
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", *name)
	link, err := consensus.ListenTCP(consensus.TCPLinkConfig{Bind: bind, Key: key, Logger: log})
	if err != nil {
		return err
	}
	defer link.Close()
	st := state.New(state.Options{})
	node, err := consensus.New(consensus.Config{
		Cluster: c, Node: *name, Key: key, DataDir: *dir, Link: link, State: st, Logger: log,
		SnapshotThreshold: *snapThreshold, TrailingLogs: *snapThreshold, SnapshotInterval: *snapInterval,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := node.Run(ctx); err != nil {
		return err
	}
	snap, err := st.Snapshot()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "state.json"), snap, 0o600)
}
