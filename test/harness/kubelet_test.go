package harness

import "testing"

func TestCommandExit(t *testing.T) {
	cases := map[string]struct {
		argv []string
		code int32
		ok   bool
	}{
		"true":                  {argv: []string{"true"}, code: 0, ok: true},
		"/bin/false":            {argv: []string{"/bin/false"}, code: 1, ok: true},
		"echo":                  {argv: []string{"echo", "hi"}, code: 0, ok: true},
		"sh -c exit 7":          {argv: []string{"sh", "-c", "exit 7"}, code: 7, ok: true},
		"sh -c false; true":     {argv: []string{"sh", "-c", "false; true"}, code: 0, ok: true},
		"sh -c true; false":     {argv: []string{"sh", "-c", "true; false"}, code: 1, ok: true},
		"sh -c exit 300":        {argv: []string{"sh", "-c", "exit 300"}, code: 44, ok: true},
		"sh -c exit first":      {argv: []string{"sh", "-c", "exit 2; true"}, code: 2, ok: true},
		"sleep: left running":   {argv: []string{"sleep", "3600"}},
		"sh -c sleep: running":  {argv: []string{"sh", "-c", "sleep 1; true"}},
		"sh -c exit x: running": {argv: []string{"sh", "-c", "exit x"}},
		"nothing":               {},
	}
	for name, c := range cases {
		code, ok := CommandExit(c.argv)
		if code != c.code || ok != c.ok {
			t.Errorf("%s: got %d %t, want %d %t", name, code, ok, c.code, c.ok)
		}
	}
}
