package tenancy

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// judge checks err against want: nil when want is empty, otherwise a
// refusal (Forbidden or Invalid) whose message contains want.
func judge(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused, want allowed: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("allowed, want refused with %q", want)
	case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Fatalf("error %v is not a refusal (Forbidden or Invalid)", err)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("refused with %v\nwant the message to contain %q", err, want)
	}
}
