package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
)

// TestRenderMesosAPI: the Mesos API is on by default, on every master
// replica, behind a Service that pins clients to a replica; its config
// loads as the master loads it; mesosAPI.enabled=false removes it all.
func TestRenderMesosAPI(t *testing.T) {
	objs := render(t, "ops", `mesosAPI.anonymous.namespace=mesos`, `mesosAPI.anonymous.roles={*}`,
		`mesosAPI.principals[0].principal=team-a`, `mesosAPI.principals[0].namespace=team-a`, `mesosAPI.principals[0].roles={*,batch}`,
		`mesosAPI.credentialsSecret=mesos-credentials`)
	var master appsv1.Deployment
	find(t, objs, "Deployment", "ko-kubeoffer-master", &master)
	c := master.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--mesos-api-bind-address=:5050") || !strings.Contains(args, "--mesos-api-config=/etc/kubeoffer/mesos-api/config.yaml") {
		t.Errorf("master args %q", args)
	}
	if len(c.VolumeMounts) != 2 || len(master.Spec.Template.Spec.Volumes) != 2 {
		t.Errorf("want the config and credentials mounted, got %v", c.VolumeMounts)
	}
	var svc corev1.Service
	find(t, objs, "Service", "ko-kubeoffer-mesos", &svc)
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP || svc.Spec.Ports[0].Port != 5050 {
		t.Errorf("service %+v", svc.Spec)
	}
	var cm corev1.ConfigMap
	find(t, objs, "ConfigMap", "ko-kubeoffer-mesos-api", &cm)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mesosapi.LoadConfig(path)
	if err != nil {
		t.Fatalf("the rendered config does not load: %v\n%s", err, cm.Data["config.yaml"])
	}
	if cfg.Anonymous == nil || cfg.Anonymous.Namespace != "mesos" || len(cfg.Principals) != 1 || cfg.Principals[0].Namespace != "team-a" ||
		len(cfg.Principals[0].Roles) != 2 || cfg.CredentialsDir == "" || cfg.HeartbeatInterval.Seconds() != 15 {
		t.Errorf("config %+v", cfg)
	}

	for _, o := range render(t, "ops", "mesosAPI.enabled=false") {
		if strings.Contains(o.GetName(), "mesos") {
			t.Errorf("mesosAPI.enabled=false still renders %s %s", o.GetKind(), o.GetName())
		}
	}
	find(t, render(t, "ops", "mesosAPI.enabled=false"), "Deployment", "ko-kubeoffer-master", &master)
	if strings.Contains(strings.Join(master.Spec.Template.Spec.Containers[0].Args, " "), "mesos") {
		t.Error("mesosAPI.enabled=false still passes the master Mesos API flags")
	}
}
