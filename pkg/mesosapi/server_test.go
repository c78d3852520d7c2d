package mesosapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestServeHTTPRefusesBadRequests checks what the handler refuses before it
// touches the API server.
func TestServeHTTPRefusesBadRequests(t *testing.T) {
	s := &Server{cfg: Config{Anonymous: &Access{Namespace: "ns", Roles: []string{"*"}}}.WithDefaults(), streams: map[types.NamespacedName]*stream{}}
	cases := map[string]struct {
		method, path, contentType, stream, body string
		want                                    int
		says                                    string
	}{
		"another path":           {path: "/api/v1/operator", want: http.StatusNotFound},
		"GET":                    {method: http.MethodGet, want: http.StatusMethodNotAllowed},
		"no content type":        {body: "{}", want: http.StatusUnsupportedMediaType},
		"XML":                    {contentType: "application/xml", body: "<call/>", want: http.StatusUnsupportedMediaType, says: "application/x-protobuf"},
		"broken JSON":            {contentType: MediaJSON, body: "{", want: http.StatusBadRequest, says: "failed to parse"},
		"no type":                {contentType: MediaJSON, body: `{"framework_id":{"value":"f"}}`, want: http.StatusBadRequest, says: "no type"},
		"no framework id":        {contentType: MediaJSON, body: `{"type":"REVIVE"}`, want: http.StatusBadRequest, says: "framework_id"},
		"no stream id":           {contentType: MediaJSON, body: `{"type":"REVIVE","framework_id":{"value":"f"}}`, want: http.StatusBadRequest, says: "Mesos-Stream-Id"},
		"not subscribed":         {contentType: MediaJSON, stream: "s", body: `{"type":"REVIVE","framework_id":{"value":"f"}}`, want: http.StatusForbidden, says: "not subscribed"},
		"MESSAGE":                {contentType: MediaJSON, body: `{"type":"MESSAGE","framework_id":{"value":"f"}}`, want: http.StatusBadRequest, says: "no executors"},
		"inverse offers":         {contentType: MediaJSON, body: `{"type":"ACCEPT_INVERSE_OFFERS","framework_id":{"value":"f"}}`, want: http.StatusBadRequest, says: "no inverse offers"},
		"SUBSCRIBE without info": {contentType: MediaJSON, body: `{"type":"SUBSCRIBE"}`, want: http.StatusBadRequest, says: "framework_info"},
	}
	for name, c := range cases {
		method, path := c.method, c.path
		if method == "" {
			method = http.MethodPost
		}
		if path == "" {
			path = Path
		}
		req := httptest.NewRequest(method, path, strings.NewReader(c.body))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.stream != "" {
			req.Header.Set(HeaderStreamID, c.stream)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != c.want || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", name, rec.Code, rec.Body.String(), c.want, c.says)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team-a"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{CredentialsDir: dir, Principals: []PrincipalAccess{{Principal: "team-a", Access: Access{Namespace: "a", Roles: []string{"*"}}},
		{Principal: "team-b", Access: Access{Namespace: "b", Roles: []string{"*"}}}}}
	cases := map[string]struct {
		user, pass string
		anonymous  bool
		wantNS     string
		wantCode   int
	}{
		"right":                  {user: "team-a", pass: "pw", wantNS: "a"},
		"wrong secret":           {user: "team-a", pass: "nope", wantCode: http.StatusUnauthorized},
		"no secret file":         {user: "team-b", pass: "pw", wantCode: http.StatusUnauthorized},
		"not mapped":             {user: "team-c", pass: "pw", wantCode: http.StatusUnauthorized},
		"a path as principal":    {user: "../team-a", pass: "pw", wantCode: http.StatusUnauthorized},
		"anonymous, not allowed": {wantCode: http.StatusUnauthorized},
		"anonymous, allowed":     {anonymous: true, wantNS: "open"},
	}
	for name, c := range cases {
		cc := cfg
		if c.anonymous {
			cc.Anonymous = &Access{Namespace: "open", Roles: []string{"*"}}
		}
		req := httptest.NewRequest(http.MethodPost, Path, nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		_, access, err := cc.Authenticate(req)
		code := 0
		if ae, ok := err.(*authError); ok {
			code = ae.status
		}
		if code != c.wantCode || access.Namespace != c.wantNS {
			t.Errorf("%s: namespace %q code %d (%v), want %q %d", name, access.Namespace, code, err, c.wantNS, c.wantCode)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := map[string]struct {
		cfg  Config
		says string
	}{
		"fine":               {cfg: Config{Anonymous: &Access{Namespace: "ns", Roles: []string{"*"}}}},
		"bad namespace":      {cfg: Config{Anonymous: &Access{Namespace: "Not_A_NS", Roles: []string{"*"}}}, says: "not a namespace name"},
		"no roles":           {cfg: Config{Anonymous: &Access{Namespace: "ns"}}, says: "roles is empty"},
		"no credentials dir": {cfg: Config{Principals: []PrincipalAccess{{Principal: "p", Access: Access{Namespace: "ns", Roles: []string{"*"}}}}}, says: "credentialsDir"},
		"twice": {cfg: Config{CredentialsDir: "/x", Principals: []PrincipalAccess{{Principal: "p", Access: Access{Namespace: "ns", Roles: []string{"*"}}},
			{Principal: "p", Access: Access{Namespace: "ns", Roles: []string{"*"}}}}}, says: "twice"},
		"a principal with a slash": {cfg: Config{CredentialsDir: "/x", Principals: []PrincipalAccess{{Principal: "a/b", Access: Access{Namespace: "ns", Roles: []string{"*"}}}}}, says: "letters"},
	}
	for name, c := range cases {
		err := c.cfg.Validate()
		if (c.says == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("anonymous: {namespace: mesos, roles: ['*']}\nheartbeatInterval: 20s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil || cfg.HeartbeatInterval.Seconds() != 20 || cfg.DefaultImage != DefaultImage || cfg.Anonymous.Namespace != "mesos" {
		t.Errorf("LoadConfig: %+v, %v", cfg, err)
	}
	if err := os.WriteFile(path, []byte("anonymus: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil {
		t.Error("a misspelt field was accepted")
	}
}
