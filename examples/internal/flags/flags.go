// Package flags holds the command-line parsing the example frameworks
// share: repeatable key=value flags.
package flags

import (
	"fmt"
	"strings"
)

// KeyValues is a repeatable key=value flag (flag.Value).
type KeyValues map[string]string

func (kv KeyValues) String() string {
	var parts []string
	for k, v := range kv {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

// Set parses one key=value.
func (kv KeyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: write key=value", s)
	}
	kv[k] = v
	return nil
}
