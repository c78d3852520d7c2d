package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func TestParsePorts(t *testing.T) {
	got, err := ParsePorts("31000-32000, 8080")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]kov1.PortRange{{Begin: 31000, End: 32000}, {Begin: 8080, End: 8080}}, got); d != "" {
		t.Error(d)
	}
	for _, bad := range []string{"0-10", "10-5", "x", "1-70000"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) should fail", bad)
		}
	}
}

func TestParseResourceListAndAttributes(t *testing.T) {
	rl, err := ParseResourceList("cpu=100m, memory=256Mi")
	if err != nil || rl.Cpu().MilliValue() != 100 || rl.Memory().Value() != 256<<20 {
		t.Errorf("got %v, %v", rl, err)
	}
	for _, bad := range []string{"cpu", "cpu=lots", "cpu=-1"} {
		if _, err := ParseResourceList(bad); err == nil {
			t.Errorf("ParseResourceList(%q) should fail", bad)
		}
	}
	attrs, err := ParseAttributes("rack=r1,disk=ssd")
	if err != nil || attrs["rack"] != "r1" || attrs["disk"] != "ssd" {
		t.Errorf("got %v, %v", attrs, err)
	}
	if _, err := ParseAttributes("=x"); err == nil {
		t.Error("an empty key should fail")
	}
}
