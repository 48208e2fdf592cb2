package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/havenha/haven/internal/testenv"
)

// FuzzParse feeds arbitrary bytes to the decoder and validator (without the
// recover that Parse adds) and checks it neither panics nor reports an error
// without a position. The seed corpus is in testdata/fuzz/FuzzParse: the
// examples and the broken cases (regenerate with HAVEN_WRITE_CORPUS=1), plus
// any crasher found so far.
func FuzzParse(f *testing.F) {
	for _, file := range exampleFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range brokenCases {
		f.Add([]byte(tc.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("f.yaml", data, Options{})
		if err == nil {
			if c == nil {
				t.Fatal("no error and no cluster")
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error %T %v; want Errors", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("empty Errors returned as an error")
		}
		for _, e := range errs {
			if e.Line < 1 || e.Col < 1 || e.Msg == "" || e.File != "f.yaml" {
				t.Fatalf("error without a position or message: %+v", e)
			}
		}
		_ = errs.Error()
	})
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// TestWriteFuzzCorpus regenerates the seed corpus files when asked.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("HAVEN_WRITE_CORPUS") == "" {
		testenv.Skip(t, testenv.OptIn, "set HAVEN_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzParse seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range exampleFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		write("example-"+strings.TrimSuffix(filepath.Base(file), ".yaml"), data)
	}
	for _, tc := range brokenCases {
		write("broken-"+strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(tc.name), "-"), "-"), []byte(tc.yaml))
	}
}
