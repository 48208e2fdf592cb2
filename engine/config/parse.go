package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/havenha/haven/engine/model"
)

// Options tune Load and Parse. The lookups are the binary's registries: a
// resource or fencing device whose type they do not resolve is refused,
// since nothing could run it.
type Options struct {
	// Types finds a resource type and its params validator. A miss is an
	// error. Nil accepts the names of BuiltinTypes (and the ocf: and
	// systemd: families) without checking params: enough for tools that
	// only place resources, like the scheduler's tests.
	Types model.TypeLookup
	// FenceTypes finds a fencing device type and its params validator. A
	// miss is an error. Nil accepts the names of BuiltinFenceTypes, none
	// yet: every fencing device is refused.
	FenceTypes model.FenceTypeLookup
}

// MaxFileSize is the largest configuration file Load accepts.
const MaxFileSize = 4 << 20

// Load reads and parses the configuration file at path.
func Load(path string, opts Options) (*model.Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("the file is larger than %d bytes; expected a configuration file", MaxFileSize)}}
	}
	return Parse(path, data, opts)
}

// ResolvePath returns p as given when absolute, else relative to the folder
// of the configuration file (how key_file and *_file params are found).
func ResolvePath(configPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

// Parse decodes and validates a configuration held in memory. filename is
// used in error messages only. On failure the error is an Errors listing
// every problem found.
func Parse(filename string, data []byte, opts Options) (c *model.Cluster, err error) {
	defer func() {
		// Parse must never take the process down; a panic here is a bug that
		// FuzzParse should find, but a user still gets an error.
		if r := recover(); r != nil {
			c, err = nil, Errors{{File: filename, Line: 1, Col: 1,
				Msg: fmt.Sprintf("internal error while reading the file (%v); expected no crash — please report this file", r)}}
		}
	}()
	return parse(filename, data, opts)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(filename string, data []byte, opts Options) (*model.Cluster, error) {
	col := &collector{file: filename}
	root, ok := readDocument(col, data)
	if !ok {
		return nil, col.result()
	}
	d := newDecoder(col)
	c := &model.Cluster{}
	top := d.resolve(root)
	if top == nil {
		return nil, col.result()
	}
	if top.Kind != yaml.MappingNode {
		col.add(top.Line, top.Column, "the file holds %s; expected a mapping with the sections cluster, nodes, fencing, resources, groups, clones, constraints", describe(top))
		return nil, col.result()
	}
	d.value(top, reflect.ValueOf(c).Elem(), "the file")
	col.validating = true
	v := &validator{c: c, d: d, col: col, opts: opts, top: top}
	v.run()
	if err := col.result(); err != nil {
		return nil, err
	}
	return c, nil
}

// readDocument parses the YAML text into one document's root node.
func readDocument(col *collector, data []byte) (*yaml.Node, bool) {
	if len(bytes.TrimSpace(data)) == 0 {
		col.add(1, 1, "the file is empty; expected a configuration with at least the sections cluster and nodes")
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			col.add(1, 1, "the file holds no YAML document (only comments?); expected a configuration with at least the sections cluster and nodes")
			return nil, false
		}
		yamlError(col, err)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		yamlError(col, err)
		return nil, false
	default:
		col.add(extra.Line, extra.Column, "a second YAML document starts here; expected one document per file (remove the '---' separator)")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		col.add(1, 1, "the file holds no YAML document; expected a configuration with at least the sections cluster and nodes")
		return nil, false
	}
	root := doc.Content[0]
	if isNull(root) {
		col.add(root.Line, root.Column, "the document is empty; expected a configuration with at least the sections cluster and nodes")
		return nil, false
	}
	return root, true
}

func yamlError(col *collector, err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		line := 1
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			if n, e := strconv.Atoi(sm[1]); e == nil {
				line = n
			}
			m = sm[2]
		} else if len(m) > 6 && m[:6] == "yaml: " {
			m = m[6:]
		}
		col.add(line, 1, "invalid YAML: %s; expected well-formed YAML (check indentation, quoting and colons)", m)
	}
}
