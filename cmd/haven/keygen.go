package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// keySize is the cluster key's length: 32 random bytes, an AES-256 key for
// memberlist's gossip encryption (corosync-keygen's authkey plays this role).
const keySize = 32

func init() {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Write a new random cluster key (mode 0600), like corosync-keygen",
		Long: "Write 32 random bytes to FILE with mode 0600. Copy the file to every node and name it in\n" +
			"cluster.key_file: all cluster traffic is encrypted and authenticated with it.\n" +
			"An existing file is never overwritten unless --force is given.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := writeKey(out, force); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote a %d-byte cluster key to %s (mode 0600); copy it to every node and set cluster.key_file\n", keySize, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the key to (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	addCommand(cmd)
}

func writeKey(path string, force bool) error {
	switch path {
	case "":
		return errors.New("no output file; expected -o FILE")
	case "-":
		return errors.New("refusing to write the key to standard output; expected -o FILE (the key must only live in files of mode 0600)")
	}
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return fmt.Errorf("%s is a directory; expected a file path", path)
		}
		if !force {
			return fmt.Errorf("%s already exists; expected a new file (use --force to replace it, which breaks nodes still using the old key)", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if !force {
		// O_EXCL: never clobber a file created since the check above.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create key file: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("write key file %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("sync key file %s: %w", path, err)
		}
		return f.Close()
	}
	// --force: write a temporary file beside the target and rename it over,
	// so the old key stays intact if anything fails.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".haven-key-*")
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod key file: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
