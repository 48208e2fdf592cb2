package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestConfigValidate_RefusesFileWithoutVoterSet: a two-node file with neither
// a witness, fencing nor no_quorum_policy ignore cannot keep a raft majority;
// validate says so offline, naming the file and the fixes.
func TestConfigValidate_RefusesFileWithoutVoterSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "two.yaml")
	body := "cluster: {name: x, key_file: k, two_node: true}\n" +
		"nodes: [{name: a, addresses: [127.0.0.1]}, {name: b, addresses: [127.0.0.2]}]\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &cobra.Command{}
	c.SetOut(&stdout)
	c.SetErr(&stderr)
	err := runConfigValidate(c, []string{file})
	if err == nil {
		t.Fatalf("accepted; stdout %q", stdout.String())
	}
	want := file + ":1:10: no raft voter set matches the weighted quorum: with two_node"
	if !strings.HasPrefix(stderr.String(), want) || !strings.Contains(stderr.String(), "add a witness node") {
		t.Errorf("stderr %q; want it to start with %q and suggest a witness", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q; want nothing for a refused file", stdout.String())
	}

	// The same file with no_quorum_policy ignore is accepted.
	if err := os.WriteFile(file, []byte(strings.Replace(body, "two_node: true", "two_node: true, no_quorum_policy: ignore", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if err := runConfigValidate(c, []string{file}); err != nil {
		t.Fatalf("refused with ignore: %v %s", err, stderr.String())
	}
}
