package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DecodeParams decodes a resource's params map into a struct strictly (an
// unknown key is an error) by way of JSON, so agents declare their params as
// a tagged struct. Durations and scores decode from their text forms.
func DecodeParams(params map[string]any, out any) error {
	b, err := json.Marshal(normalize(params))
	if err != nil {
		return fmt.Errorf("params: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "json: ")
		return fmt.Errorf("params: %s", msg)
	}
	return nil
}

// normalize turns map[any]any (which some YAML decoders produce) into
// map[string]any so it can be marshalled to JSON.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = normalize(x)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = normalize(x)
		}
		return s
	}
	return v
}
