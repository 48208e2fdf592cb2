package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// scalar is a param value that must be a string, number or boolean and is
// used as text (environment values, OCF_RESKEY_*). YAML writes `port: 8080`
// as a number; it becomes "8080".
type scalar string

// UnmarshalJSON accepts a JSON string, number or boolean.
func (s *scalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("empty value")
	}
	switch b[0] {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = scalar(v)
		return nil
	case 't', 'f':
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = scalar(strconv.FormatBool(v))
		return nil
	case '[', '{':
		return fmt.Errorf("a list or map is not allowed here; expected a string, number or boolean")
	case 'n':
		return fmt.Errorf("null is not allowed here; expected a string, number or boolean")
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = scalar(n.String())
	return nil
}

// scalarText renders a raw params value as text, refusing lists, maps and
// nil.
func scalarText(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case uint64:
		return strconv.FormatUint(t, 10), nil
	case int32:
		return strconv.FormatInt(int64(t), 10), nil
	case uint:
		return strconv.FormatUint(uint64(t), 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), nil
	case json.Number:
		return t.String(), nil
	case nil:
		return "", fmt.Errorf("no value; expected a string, number or boolean")
	case []any, map[string]any, map[any]any, []string, map[string]string:
		return "", fmt.Errorf("a list or map is not allowed; expected a string, number or boolean")
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String(), nil
	}
	return "", fmt.Errorf("value of type %T is not allowed; expected a string, number or boolean", v)
}
