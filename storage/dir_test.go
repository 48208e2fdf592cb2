package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func ident(node string) Identity {
	return Identity{Cluster: "fo_cluster", Node: node, ClusterID: "c0ffee"}
}

func TestOpen_FreshWritesIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sv1")
	d, err := Open(Options{Path: dir, Identity: ident("sv1")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id, err := ReadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.Cluster != "fo_cluster" || id.Node != "sv1" || id.Format != FormatVersion || id.Joined {
		t.Fatalf("identity = %+v", id)
	}
	has, err := d.HasState()
	if err != nil || has {
		t.Fatalf("fresh dir HasState = %v, %v; want false", has, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOpen_IdentityMismatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, err := Open(Options{Path: dir, Identity: ident("sv1")})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	cases := []struct {
		name string
		id   Identity
		want []string
	}{
		{"other node", ident("sv2"), []string{`node "sv1"`, `node "sv2"`, "node name differs", "remove the directory"}},
		{"other cluster", Identity{Cluster: "other", Node: "sv1", ClusterID: "c0ffee"}, []string{`cluster "fo_cluster"`, `cluster "other"`, "cluster name differs"}},
		{"other key", Identity{Cluster: "fo_cluster", Node: "sv1", ClusterID: "bad"}, []string{"cluster key differs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(Options{Path: dir, Identity: c.id})
			if !errors.Is(err, ErrIdentity) {
				t.Fatalf("err = %v; want ErrIdentity", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpen_NewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	id := ident("sv1")
	id.Format = FormatVersion + 1
	if err := writeIdentity(dir, id); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Path: dir, Identity: ident("sv1")})
	if err == nil || !strings.Contains(err.Error(), "upgrade haven") {
		t.Fatalf("err = %v; want a format error", err)
	}
}

func TestOpen_SecondOpenerTimesOut(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(Options{Path: dir, Identity: ident("sv1")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Open(Options{Path: dir, Identity: ident("sv1"), LockTimeout: 100 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInUse) {
			t.Fatalf("err = %v; want ErrInUse", err)
		}
		if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("error %q should name the holder's pid", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second Open blocked instead of timing out")
	}
}

func TestWipe_KeepsIdentityAndDropsState(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(Options{Path: dir, Identity: ident("sv1"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.StableStore().SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := d.LogStore().StoreLog(&raft.Log{Index: 1, Term: 7, Type: raft.LogCommand, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if has, _ := d.HasState(); !has {
		t.Fatal("HasState = false after writing a log")
	}
	if err := d.Wipe(); err != nil {
		t.Fatal(err)
	}
	if has, err := d.HasState(); err != nil || has {
		t.Fatalf("HasState after Wipe = %v, %v; want false", has, err)
	}
	id, _ := ReadIdentity(dir)
	if !id.Joined || id.Node != "sv1" {
		t.Fatalf("identity after wipe = %+v; want Joined and node kept", id)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_RaftStateWithoutIdentityRefused(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(Options{Path: dir, Identity: ident("sv1")})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	os.Remove(filepath.Join(dir, "meta.json"))
	if _, err := Open(Options{Path: dir, Identity: ident("sv1")}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("err = %v; want ErrIdentity", err)
	}
}

func TestRekey_KeepsStateAndRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(Options{Path: dir, Identity: ident("sv1"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StableStore().SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatal(err)
	}
	// Refused while the agent holds the directory.
	newID := Identity{Cluster: "fo_cluster", Node: "sv1", ClusterID: "beef"}
	if err := Rekey(dir, newID, 50*time.Millisecond); !errors.Is(err, ErrInUse) {
		t.Fatalf("rekey of a held directory: %v", err)
	}
	d.Close()
	if err := Rekey(dir, Identity{Cluster: "fo_cluster", Node: "sv2", ClusterID: "beef"}, 0); !errors.Is(err, ErrIdentity) {
		t.Fatalf("rekey as another node: %v", err)
	}
	if err := Rekey(dir, newID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: dir, Identity: ident("sv1")}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("old key still accepted: %v", err)
	}
	d, err = Open(Options{Path: dir, Identity: newID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := d.StableStore().GetUint64([]byte("CurrentTerm")); v != 9 {
		t.Fatalf("raft state lost by rekey: term %d", v)
	}
}
