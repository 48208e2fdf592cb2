package membership

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// MinKeySize is the shortest key file accepted: 16 bytes (128 bits).
const MinKeySize = 16

// MaxKeyFileSize bounds how much of a key file is read.
const MaxKeyFileSize = 64 << 10

// ErrKeyTooShort is returned for key files below MinKeySize bytes.
var ErrKeyTooShort = errors.New("cluster key is too short")

// Keys are the per-layer secrets derived from the one cluster key file.
//
// The file's bytes are never used on the wire themselves: each layer gets
// its own 32-byte key from HKDF-SHA256 (RFC 5869) with the file as input
// keying material and a layer label as info ("haven-gossip", "haven-raft",
// "haven-api", "haven-lease"). HKDF is one-way, so a key that leaks from one layer (say the
// API token, which travels in HTTP headers) gives nothing about the gossip
// or raft keys, nor about the file. Any file of 16 bytes or more works:
// `haven keygen`'s 32 random bytes, a corosync authkey, a longer passphrase
// file. Every node derives the same keys from the same file.
type Keys struct {
	Gossip []byte // AES-256-GCM key of memberlist (Config.SecretKey)
	Raft   []byte // for the raft transport (consensus)
	API    []byte // the HTTP API's bearer token is derived from it
	Lease  []byte // HMAC key of the lease renewals' datagrams (leasewire)
}

// LoadKeyFile reads a cluster key file and derives the per-layer keys.
func LoadKeyFile(path string) (Keys, error) {
	if path == "" {
		return Keys{}, errors.New("no cluster key file; expected cluster.key_file naming a file made by 'haven keygen'")
	}
	f, err := os.Open(path)
	if err != nil {
		return Keys{}, fmt.Errorf("read cluster key: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return Keys{}, fmt.Errorf("read cluster key %s: %w", path, err)
	}
	if len(raw) > MaxKeyFileSize {
		return Keys{}, fmt.Errorf("cluster key %s is larger than %d bytes; expected a key file made by 'haven keygen'", path, MaxKeyFileSize)
	}
	k, err := DeriveKeys(raw)
	if err != nil {
		return Keys{}, fmt.Errorf("cluster key %s: %w", path, err)
	}
	return k, nil
}

// DeriveKeys derives the per-layer keys from the key file's content.
func DeriveKeys(secret []byte) (Keys, error) {
	if len(secret) < MinKeySize {
		return Keys{}, fmt.Errorf("%w: %d bytes; expected at least %d (make one with 'haven keygen')", ErrKeyTooShort, len(secret), MinKeySize)
	}
	derive := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, secret, nil, label, 32)
	}
	var k Keys
	var err error
	if k.Gossip, err = derive("haven-gossip"); err != nil {
		return Keys{}, err
	}
	if k.Raft, err = derive("haven-raft"); err != nil {
		return Keys{}, err
	}
	if k.API, err = derive("haven-api"); err != nil {
		return Keys{}, err
	}
	if k.Lease, err = derive("haven-lease"); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// APIToken is the bearer token of the agents' TCP API: a further one-way
// step from the API key, printable for an HTTP header.
func (k Keys) APIToken() string {
	t, err := hkdf.Key(sha256.New, k.API, nil, "haven-api-token-v1", 32)
	if err != nil || len(k.API) == 0 {
		return ""
	}
	return hex.EncodeToString(t)
}
