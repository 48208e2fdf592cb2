package agent

import (
	"encoding/json"
	"fmt"
	"strconv"
)

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
