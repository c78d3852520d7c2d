package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestHelpDefault(t *testing.T) {
	for name, tc := range map[string]struct {
		help, flag string
		want       float64
	}{
		"Go's flag package: usage on the next line": {
			help: "  -kube-api-burst int\n    \tBurst above --kube-api-qps. (default 2000)\n  -kube-api-qps float\n    \tRequests per second (a fence). (default 1000)\n",
			flag: "kube-api-qps", want: 1000,
		},
		"Go's flag package: a flag named in another's usage is not it": {
			help: "  -kube-api-burst int\n    \tBurst above --kube-api-qps. (default 2000)\n  -kube-api-qps float\n    \tRequests per second. (default 1000)\n",
			flag: "kube-api-burst", want: 2000,
		},
		"cobra: one line": {
			help: "      --kube-api-burst int32     DEPRECATED: burst to use. (default 100)\n      --kube-api-qps float32     DEPRECATED: QPS to use. (default 50)\n",
			flag: "kube-api-qps", want: 50,
		},
		"absent": {help: "  -v int\n    \tverbosity\n", flag: "kube-api-qps", want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := helpDefault(tc.help, tc.flag); got != tc.want {
				t.Errorf("helpDefault = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEffectiveLimit(t *testing.T) {
	def := rateLimit{QPS: 1000, Burst: 2000}
	for name, tc := range map[string]struct {
		args []string
		want rateLimit
	}{
		"shipped default":    {want: def},
		"unthrottled":        {args: limitSettings["unthrottled"].args(), want: rateLimit{QPS: 5000, Burst: 10000}},
		"the last one wins":  {args: []string{"--kube-api-qps=400", "-kube-api-qps=800"}, want: rateLimit{QPS: 800, Burst: 2000}},
		"other flags ignore": {args: []string{"--zap-log-level=1"}, want: def},
	} {
		t.Run(name, func(t *testing.T) {
			if got := effectiveLimit(def, tc.args); got != tc.want {
				t.Errorf("effectiveLimit = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	got, err := parseLimits("default, unthrottled")
	if err != nil || len(got) != 2 || got[0].Name != "default" || got[1].Name != "unthrottled" {
		t.Errorf("parseLimits = %v, %v", got, err)
	}
	if _, err := parseLimits("default,fast"); err == nil {
		t.Error("an unknown setting is refused")
	}
}

func TestCostBetween(t *testing.T) {
	t0 := time.Unix(0, 0)
	s0 := costSample{at: t0, masterReq: 40,
		cpu: map[string]float64{"kube-apiserver": 10, "etcd": 1, "harness": 2},
		req: map[string]float64{"POST tasks": 5, "PUT leases": 100, "GET pods": 3}}
	s1 := costSample{at: t0.Add(4 * time.Second), masterReq: 440,
		cpu: map[string]float64{"kube-apiserver": 12, "etcd": 1.5, "harness": 2.5, "master": 9},
		req: map[string]float64{"POST tasks": 105, "PUT tasks/status": 200, "PUT leases": 120, "GET pods": 3, "LIST tasks": 1}}
	got := costBetween(s0, s1, 100)
	want := Cost{Tasks: 100, WindowSec: 4,
		// A process seen only at the end (started meanwhile) is left out.
		CPUMs:       map[string]float64{"kube-apiserver": 20, "etcd": 5, "harness": 5},
		TotalCPUMs:  30,
		Writes:      map[string]float64{"POST tasks": 1, "PUT tasks/status": 2, "PUT leases": 0.2},
		TotalWrites: 3.2, LeaseWrites: 0.2,
		Reads:          map[string]float64{"LIST tasks": 0.01},
		MasterRequests: 4, MasterRequestRate: 100}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("costBetween (-want +got):\n%s", diff)
	}
	if share := got.APIServerShare(); share < 0.666 || share > 0.667 {
		t.Errorf("API server share %v, want 2/3", share)
	}
}
