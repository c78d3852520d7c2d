package controllers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestParseResourceNames(t *testing.T) {
	cases := map[string]struct {
		list    string
		want    []corev1.ResourceName
		wantErr string
	}{
		"empty is none":           {list: "", want: nil},
		"one":                     {list: "nvidia.com/gpu", want: []corev1.ResourceName{"nvidia.com/gpu"}},
		"several, blanks ignored": {list: " nvidia.com/gpu, example.com/fpga ,,", want: []corev1.ResourceName{"nvidia.com/gpu", "example.com/fpga"}},
		"not a resource name":     {list: "gpu,bad name", wantErr: `invalid resource name "bad name"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseResourceNames(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}
