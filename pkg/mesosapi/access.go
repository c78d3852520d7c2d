package mesosapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Access is what a principal may do: run frameworks in one namespace, with
// the Mesos roles listed ("*" is kubeoffer's default role).
type Access struct {
	// Namespace the principal's Frameworks, offers and Tasks live in.
	Namespace string `json:"namespace"`
	// Roles the principal's frameworks may subscribe with (Mesos names).
	Roles []string `json:"roles"`
}

// PrincipalAccess maps one principal to its Access.
type PrincipalAccess struct {
	// Principal is the HTTP basic user name (Mesos's principal).
	Principal string `json:"principal"`
	Access    `json:",inline"`
}

// Config is the Mesos API's configuration (the chart's mesosAPI values
// become this file, --mesos-api-config).
type Config struct {
	// Principals maps each principal to a namespace and roles.
	Principals []PrincipalAccess `json:"principals,omitempty"`
	// Anonymous is the Access of frameworks that send no credentials; nil
	// means every request needs credentials (401 without).
	Anonymous *Access `json:"anonymous,omitempty"`
	// CredentialsDir holds one file per principal, named after it, whose
	// content is its password: a mounted Secret.
	CredentialsDir string `json:"credentialsDir,omitempty"`
	// DefaultImage runs command tasks that name no image, and fetches URIs
	// (it needs sh, wget, tar, unzip, gunzip). Default busybox:stable.
	DefaultImage string `json:"defaultImage,omitempty"`
	// HeartbeatInterval is how often a subscribed framework gets HEARTBEAT
	// (Mesos: 15s).
	HeartbeatInterval Duration `json:"heartbeatInterval,omitempty"`
	// ResendInterval is how long an unacknowledged status update waits
	// before it is sent again; the wait doubles up to ResendMaxInterval
	// (Mesos's agent: 10s up to 10m).
	ResendInterval    Duration `json:"resendInterval,omitempty"`
	ResendMaxInterval Duration `json:"resendMaxInterval,omitempty"`
	// LeaseRenewInterval is how often a subscription renews its
	// framework's heartbeat Lease (which lasts three intervals). Default 5s.
	LeaseRenewInterval Duration `json:"leaseRenewInterval,omitempty"`
}

// Duration is a time.Duration written as "15s" in the config file.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "15s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w (write e.g. 15s)", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes "15s".
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Defaults Mesos uses.
const (
	DefaultHeartbeatInterval  = 15 * time.Second
	DefaultResendInterval     = 10 * time.Second
	DefaultResendMaxInterval  = 10 * time.Minute
	DefaultLeaseRenewInterval = 5 * time.Second
	DefaultImage              = "busybox:stable"
)

// LoadConfig reads and checks a config file.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("reading the Mesos API config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("parsing the Mesos API config %s: %w", path, err)
	}
	return c.WithDefaults(), c.Validate()
}

// WithDefaults fills unset fields with Mesos's defaults.
func (c Config) WithDefaults() Config {
	if c.DefaultImage == "" {
		c.DefaultImage = DefaultImage
	}
	if c.HeartbeatInterval.Duration <= 0 {
		c.HeartbeatInterval.Duration = DefaultHeartbeatInterval
	}
	if c.ResendInterval.Duration <= 0 {
		c.ResendInterval.Duration = DefaultResendInterval
	}
	if c.ResendMaxInterval.Duration < c.ResendInterval.Duration {
		c.ResendMaxInterval.Duration = max(DefaultResendMaxInterval, c.ResendInterval.Duration)
	}
	if c.LeaseRenewInterval.Duration <= 0 {
		c.LeaseRenewInterval.Duration = DefaultLeaseRenewInterval
	}
	return c
}

// Validate says what is wrong with the config and how to fix it.
func (c Config) Validate() error {
	var errs []error
	check := func(who string, a Access) {
		if len(validation.IsDNS1123Label(a.Namespace)) > 0 {
			errs = append(errs, fmt.Errorf("%s: namespace %q is not a namespace name", who, a.Namespace))
		}
		if len(a.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s: roles is empty; list the Mesos roles it may use (\"*\" is the default role)", who))
		}
	}
	seen := map[string]bool{}
	for _, p := range c.Principals {
		if !validPrincipal(p.Principal) {
			errs = append(errs, fmt.Errorf("principal %q: use letters, digits, '-', '_' and '.' (it names a file in credentialsDir)", p.Principal))
		}
		if seen[p.Principal] {
			errs = append(errs, fmt.Errorf("principal %q is listed twice", p.Principal))
		}
		seen[p.Principal] = true
		check("principal "+p.Principal, p.Access)
	}
	if c.Anonymous != nil {
		check("anonymous", *c.Anonymous)
	}
	if len(c.Principals) > 0 && c.CredentialsDir == "" {
		errs = append(errs, errors.New("principals are listed but credentialsDir is empty: mount their Secret and name its folder"))
	}
	return errors.Join(errs...)
}

func validPrincipal(p string) bool {
	if p == "" || p == "." || p == ".." || len(p) > 253 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// authError is an HTTP status and a message saying what to fix.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// Authenticate checks a request's HTTP basic credentials against the
// credentials folder and returns the principal ("" for anonymous) and its
// Access. It fails with 401 for missing or wrong credentials, 403 for a
// principal mapped to nothing.
func (c Config) Authenticate(r *http.Request) (string, Access, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if c.Anonymous == nil {
			return "", Access{}, &authError{http.StatusUnauthorized, "this Mesos API needs HTTP basic credentials (a principal and its secret)"}
		}
		return "", *c.Anonymous, nil
	}
	i := slices.IndexFunc(c.Principals, func(p PrincipalAccess) bool { return p.Principal == user })
	if i < 0 || !validPrincipal(user) {
		return "", Access{}, &authError{http.StatusUnauthorized, fmt.Sprintf("principal %q is not known: ask the operator to map it to a namespace", user)}
	}
	want, err := os.ReadFile(filepath.Join(c.CredentialsDir, user))
	if err != nil {
		return "", Access{}, &authError{http.StatusUnauthorized, fmt.Sprintf("principal %q has no secret in the credentials Secret", user)}
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimRight(string(want), "\r\n")), []byte(pass)) != 1 {
		return "", Access{}, &authError{http.StatusUnauthorized, fmt.Sprintf("wrong secret for principal %q", user)}
	}
	return user, c.Principals[i].Access, nil
}
