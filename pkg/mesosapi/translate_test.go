package mesosapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
}

func ports(ranges ...[2]uint64) *mesospb.Resource {
	r := &mesospb.Resource{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{}}
	for _, rg := range ranges {
		r.Ranges.Range = append(r.Ranges.Range, &mesospb.Value_Range{Begin: proto.Uint64(rg[0]), End: proto.Uint64(rg[1])})
	}
	return r
}

func roles(r *mesospb.Resource, allocation string, deprecated bool) *mesospb.Resource {
	if allocation != "" {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(allocation)}
	}
	if deprecated {
		r.Role = proto.String("*")
	}
	return r
}

func TestOffer(t *testing.T) {
	o := b.MakeOffer("o1", "ns", "fw", "node-1").Role("batch").
		Resources(b.Resources("cpu", "1500m", "memory", "1Gi", "ephemeral-storage", "10Gi", "nvidia.com/gpu", "2", "example.com/fpga", "1")).
		Ports(kov1.PortRange{Begin: 31000, End: 31099}).Attribute("zone", "a").Attribute("rack", "12").Obj()
	resources := func(alloc string, deprecated bool) []*mesospb.Resource {
		return []*mesospb.Resource{roles(scalar("cpus", 1.5), alloc, deprecated), roles(scalar("disk", 10240), alloc, deprecated),
			roles(scalar("example.com/fpga", 1), alloc, deprecated), roles(scalar("gpus", 2), alloc, deprecated),
			roles(scalar("mem", 1024), alloc, deprecated), roles(ports([2]uint64{31000, 31099}), alloc, deprecated)}
	}
	base := func() *mesospb.Offer {
		return &mesospb.Offer{Id: &mesospb.OfferID{Value: proto.String("o1")}, FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")},
			AgentId: &mesospb.AgentID{Value: proto.String("node-1")}, Hostname: proto.String("node-1"),
			Url: &mesospb.URL{Scheme: proto.String("http"), Path: proto.String("/slave(1)"),
				Address: &mesospb.Address{Hostname: proto.String("node-1"), Port: proto.Int32(5051)}},
			Attributes: []*mesospb.Attribute{
				{Name: proto.String("rack"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(12)}},
				{Name: proto.String("zone"), Type: mesospb.Value_TEXT.Enum(), Text: &mesospb.Value_Text{Value: proto.String("a")}}}}
	}
	cases := map[string]struct {
		caps Capabilities
		want func() *mesospb.Offer
	}{
		"MULTI_ROLE with refinement: allocation_info, no role": {caps: Capabilities{MultiRole: true, ReservationRefinement: true}, want: func() *mesospb.Offer {
			w := base()
			w.Resources = resources("batch", false)
			w.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("batch")}
			return w
		}},
		"neither: pre-refinement role * only": {want: func() *mesospb.Offer {
			w := base()
			w.Resources = resources("", true)
			return w
		}},
		"MULTI_ROLE without refinement: both": {caps: Capabilities{MultiRole: true}, want: func() *mesospb.Offer {
			w := base()
			w.Resources = resources("batch", true)
			w.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("batch")}
			return w
		}},
	}
	for name, c := range cases {
		if diff := cmp.Diff(c.want(), Offer(o, "fw", c.caps, AgentAddress{}), protocmp.Transform()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// The default role is Mesos's "*"; memory rounds down to Mesos's 3 decimals.
	d := b.MakeOffer("o2", "ns", "fw", "n").Resources(b.Resources("memory", "1000001")).Obj()
	got := Offer(d, "fw", Capabilities{MultiRole: true}, AgentAddress{IP: "10.0.0.1"})
	if got.GetAllocationInfo().GetRole() != "*" || got.GetResources()[0].GetScalar().GetValue() != 0.953 || got.GetUrl().GetAddress().GetIp() != "10.0.0.1" {
		t.Errorf("default-role offer: %v", got)
	}
}

func TestTaskResources(t *testing.T) {
	q := resource.MustParse
	cases := map[string]struct {
		in      []*mesospb.Resource
		want    corev1.ResourceList
		ports   []kov1.PortRange
		wantErr string
	}{
		"Mesos units become Kubernetes ones": {
			in:    []*mesospb.Resource{scalar("cpus", 0.01), scalar("mem", 64), scalar("disk", 5), scalar("gpus", 1), scalar("cpus", 0.5), ports([2]uint64{31000, 31001})},
			want:  corev1.ResourceList{"cpu": q("510m"), "memory": q("64Mi"), "ephemeral-storage": q("5Mi"), "nvidia.com/gpu": q("1")},
			ports: []kov1.PortRange{{Begin: 31000, End: 31001}}},
		"the offer's allocation role": {in: []*mesospb.Resource{roles(scalar("cpus", 1), "*", true)}, want: corev1.ResourceList{"cpu": q("1")}},
		"another role":                {in: []*mesospb.Resource{roles(scalar("cpus", 1), "batch", false)}, wantErr: `allocated to role "batch"`},
		"reserved":                    {in: []*mesospb.Resource{{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Role: proto.String("batch")}}, wantErr: "reserved"},
		"revocable":                   {in: []*mesospb.Resource{{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Revocable: &mesospb.Resource_RevocableInfo{}}}, wantErr: "revocable"},
		"a volume":                    {in: []*mesospb.Resource{{Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(), Disk: &mesospb.Resource_DiskInfo{}}}, wantErr: "disk info"},
		"half a GPU":                  {in: []*mesospb.Resource{scalar("gpus", 0.5)}, wantErr: "whole number"},
		"negative":                    {in: []*mesospb.Resource{scalar("mem", -1)}, wantErr: "non-negative"},
		"a set":                       {in: []*mesospb.Resource{{Name: proto.String("x"), Type: mesospb.Value_SET.Enum()}}, wantErr: "type SET"},
		"ports upside down":           {in: []*mesospb.Resource{ports([2]uint64{10, 5})}, wantErr: "not a range"},
		"ports beyond 65535":          {in: []*mesospb.Resource{ports([2]uint64{65535, 65536})}, wantErr: "not a range"},
	}
	for name, c := range cases {
		rl, pr, err := TaskResources(c.in, "*")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one saying %q", name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for k, v := range c.want {
			if got := rl[k]; got.Cmp(v) != 0 {
				t.Errorf("%s: %s = %s, want %s", name, k, got.String(), v.String())
			}
		}
		if len(rl) != len(c.want) || !cmp.Equal(pr, c.ports) {
			t.Errorf("%s: got %v %v, want %v %v", name, rl, pr, c.want, c.ports)
		}
	}
}

func TestRoles(t *testing.T) {
	for mesos, kube := range map[string]string{"*": "default", "batch": "batch"} {
		if KubeRole(mesos) != kube || MesosRole(kube) != mesos {
			t.Errorf("%q <-> %q: got %q and %q", mesos, kube, KubeRole(mesos), MesosRole(kube))
		}
	}
	access := Access{Namespace: "ns", Roles: []string{"*", "batch"}}
	fi := func(role string, roles ...string) *mesospb.FrameworkInfo {
		f := &mesospb.FrameworkInfo{Roles: roles}
		if role != "" {
			f.Role = proto.String(role)
		}
		return f
	}
	cases := map[string]struct {
		fi      *mesospb.FrameworkInfo
		want    string
		wantErr string
	}{
		"no role: *":          {fi: fi(""), want: "*"},
		"deprecated role":     {fi: fi("batch"), want: "batch"},
		"roles":               {fi: fi("", "batch"), want: "batch"},
		"two roles":           {fi: fi("", "*", "batch"), wantErr: "one role"},
		"not allowed":         {fi: fi("", "web"), wantErr: "may use"},
		"kubeoffer's name":    {fi: fi("", "default"), wantErr: `subscribe with "*"`},
		"roles win over role": {fi: fi("web", "batch"), want: "batch"},
	}
	for name, c := range cases {
		got, err := subscribeRole(c.fi, access)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: %v, want an error saying %q", name, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, c.want)
		}
	}
}

func lc() LaunchContext {
	return LaunchContext{Namespace: "ns", Framework: "fw", DefaultImage: "busybox:stable",
		Offer: b.MakeOffer("o1", "ns", "fw", "node-1").Resources(b.Resources("cpu", "4", "memory", "4Gi")).Obj()}
}

func info(id string, mutate ...func(*mesospb.TaskInfo)) *mesospb.TaskInfo {
	ti := &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: &mesospb.AgentID{Value: proto.String("node-1")},
		Resources: []*mesospb.Resource{scalar("cpus", 0.5), scalar("mem", 128)}, Command: &mesospb.CommandInfo{Value: proto.String("echo hi")}}
	for _, m := range mutate {
		m(ti)
	}
	return ti
}

func TestBuildTask(t *testing.T) {
	cases := map[string]struct {
		infos    []*mesospb.TaskInfo
		executor *mesospb.ExecutorInfo
		wantErr  string
		check    func(t *testing.T, tk *kov1.Task)
	}{
		"a shell command in the default image": {infos: []*mesospb.TaskInfo{info("t1")}, check: func(t *testing.T, tk *kov1.Task) {
			c := tk.Spec.Template.Spec.Containers[0]
			if tk.Name != "fw.t1" || tk.Spec.OfferName != "o1" || tk.Spec.FrameworkName != "fw" || c.Image != "busybox:stable" ||
				!cmp.Equal(c.Command, []string{"sh", "-c", "echo hi"}) || c.WorkingDir != SandboxPath || tk.Annotations[AnnotationTaskIDs] != `["t1"]` {
				t.Errorf("task %s: %+v", tk.Name, c)
			}
			if env := envOf(c); env["MESOS_SANDBOX"] != SandboxPath || env["MESOS_TASK_ID"] != "t1" || env["MESOS_FRAMEWORK_ID"] != "fw" || env["MESOS_AGENT_ID"] != "node-1" {
				t.Errorf("env %v", env)
			}
			if q := tk.Spec.Resources["memory"]; q.String() != "128Mi" {
				t.Errorf("memory %s", q.String())
			}
		}},
		"argv: value is the executable, arguments argv": {infos: []*mesospb.TaskInfo{info("T 2", func(ti *mesospb.TaskInfo) {
			ti.Command = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/ls"), Arguments: []string{"ls", "-l", "/"},
				Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{Name: proto.String("A"), Value: proto.String("1")}}}}
		})}, check: func(t *testing.T, tk *kov1.Task) {
			c := tk.Spec.Template.Spec.Containers[0]
			if !cmp.Equal(c.Command, []string{"/bin/ls"}) || !cmp.Equal(c.Args, []string{"-l", "/"}) || envOf(c)["A"] != "1" {
				t.Errorf("container %+v", c)
			}
			if !strings.HasPrefix(tk.Name, "fw.t-2-") || len(tk.Name) != len("fw.t-2-")+10 {
				t.Errorf("a task id that is not a name makes name %q", tk.Name)
			}
		}},
		"a docker image with bridge port mappings, kill policy, deadline, health check, uris": {infos: []*mesospb.TaskInfo{info("web", func(ti *mesospb.TaskInfo) {
			ti.Resources = append(ti.Resources, ports([2]uint64{31000, 31000}))
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(), Docker: &mesospb.ContainerInfo_DockerInfo{
				Image: proto.String("nginx:1"), Network: mesospb.ContainerInfo_DockerInfo_BRIDGE.Enum(), ForcePullImage: proto.Bool(true),
				PortMappings: []*mesospb.ContainerInfo_DockerInfo_PortMapping{{HostPort: proto.Uint32(31000), ContainerPort: proto.Uint32(80)}}}}
			ti.KillPolicy = &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(2_500_000_000)}}
			ti.MaxCompletionTime = &mesospb.DurationInfo{Nanoseconds: proto.Int64(60_000_000_000)}
			ti.HealthCheck = &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(), Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80), Path: proto.String("/")}}
			ti.Command.Uris = []*mesospb.CommandInfo_URI{{Value: proto.String("http://x/app.tar.gz")}, {Value: proto.String("https://x/run.sh?v=1"), Executable: proto.Bool(true)}}
		})}, check: func(t *testing.T, tk *kov1.Task) {
			spec := tk.Spec.Template.Spec
			c := spec.Containers[0]
			if c.Image != "nginx:1" || c.ImagePullPolicy != corev1.PullAlways || !cmp.Equal(c.Ports, []corev1.ContainerPort{{ContainerPort: 80, HostPort: 31000, Protocol: corev1.ProtocolTCP}}) {
				t.Errorf("container %+v", c)
			}
			if !cmp.Equal(tk.Spec.Ports, []kov1.PortRange{{Begin: 31000, End: 31000}}) || *tk.Spec.KillGracePeriodSeconds != 3 || *spec.ActiveDeadlineSeconds != 60 {
				t.Errorf("ports %v grace %d deadline %d", tk.Spec.Ports, *tk.Spec.KillGracePeriodSeconds, *spec.ActiveDeadlineSeconds)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Port != intstr.FromInt32(80) || p.InitialDelaySeconds != 25 || p.PeriodSeconds != 10 || p.FailureThreshold != 3 {
				t.Errorf("probe %+v", c.LivenessProbe)
			}
			if len(spec.InitContainers) != 1 {
				t.Fatalf("want a fetch init container, got %d", len(spec.InitContainers))
			}
			script := spec.InitContainers[0].Command[2]
			for _, want := range []string{"wget -q -O 'app.tar.gz' 'http://x/app.tar.gz'", "tar -xzf 'app.tar.gz'", "wget -q -O 'run.sh' 'https://x/run.sh?v=1'", "chmod +x 'run.sh'"} {
				if !strings.Contains(script, want) {
					t.Errorf("fetch script lacks %q:\n%s", want, script)
				}
			}
		}},
		"a task group: one Task, a container per task, the executor's resources added": {
			infos: []*mesospb.TaskInfo{info("g1"), info("g2", func(ti *mesospb.TaskInfo) {
				ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{
					Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String("alpine:3")}}}}
			})},
			executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex")},
				Resources: []*mesospb.Resource{scalar("cpus", 0.1), scalar("mem", 32)}},
			check: func(t *testing.T, tk *kov1.Task) {
				cs := tk.Spec.Template.Spec.Containers
				if len(cs) != 2 || cs[0].Name != "task-0" || cs[1].Image != "alpine:3" || tk.Annotations[AnnotationTaskIDs] != `["g1","g2"]` || tk.Annotations[AnnotationExecutorID] != "ex" {
					t.Errorf("group task %v %v", cs, tk.Annotations)
				}
				if q := tk.Spec.Resources["cpu"]; q.String() != "1100m" {
					t.Errorf("cpu %s, want 1100m", q.String())
				}
				if envOf(cs[1])["MESOS_EXECUTOR_ID"] != "ex" {
					t.Errorf("env %v", envOf(cs[1]))
				}
			}},
		"custom executor": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}}
		})}, wantErr: "custom executors are not supported"},
		"custom group executor": {infos: []*mesospb.TaskInfo{info("t")}, executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}}, wantErr: "custom executors are not supported"},
		"check":                 {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) { ti.Check = &mesospb.CheckInfo{} })}, wantErr: "checks are not supported"},
		"limits": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Limits = map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(2)}}
		})}, wantErr: "limits"},
		"another agent":        {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) { ti.AgentId = &mesospb.AgentID{Value: proto.String("node-2")} })}, wantErr: `names agent "node-2"`},
		"no cpus":              {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) { ti.Resources = ti.Resources[1:] })}, wantErr: "no cpus"},
		"no command, no image": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) { ti.Command = nil })}, wantErr: "no CommandInfo"},
		"secret env": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Command.Environment = &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{Name: proto.String("S"), Type: mesospb.Environment_Variable_SECRET.Enum()}}}
		})}, wantErr: "secret"},
		"volumes": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Volumes: []*mesospb.Volume{{}}}
		})}, wantErr: "volumes are not supported"},
		"privileged": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(), Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("x"), Privileged: proto.Bool(true)}}
		})}, wantErr: "privileged"},
		"an agent path URI": {infos: []*mesospb.TaskInfo{info("t", func(ti *mesospb.TaskInfo) {
			ti.Command.Uris = []*mesospb.CommandInfo_URI{{Value: proto.String("/opt/app.tgz")}}
		})}, wantErr: "only http, https and ftp"},
		"a duplicate id in a group": {infos: []*mesospb.TaskInfo{info("t"), info("t")}, executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}}, wantErr: "twice"},
	}
	for name, c := range cases {
		tk, err := BuildTask(lc(), c.infos, c.executor)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one saying %q", name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Run(name, func(t *testing.T) { c.check(t, tk) })
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func TestProbe(t *testing.T) {
	cases := map[string]struct {
		hc   *mesospb.HealthCheck
		want string
	}{
		"command, typed":    {hc: &mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: &mesospb.CommandInfo{Value: proto.String("test -f ok")}}, want: "exec:sh -c test -f ok"},
		"command, untyped":  {hc: &mesospb.HealthCheck{Command: &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/check"), Arguments: []string{"check", "-q"}}}, want: "exec:/check -q"},
		"tcp":               {hc: &mesospb.HealthCheck{Type: mesospb.HealthCheck_TCP.Enum(), Tcp: &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(8080)}}, want: "tcp:8080"},
		"https":             {hc: &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(), Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(443), Scheme: proto.String("https")}}, want: "http:HTTPS:443"},
		"no type":           {hc: &mesospb.HealthCheck{}, want: "error"},
		"http without port": {hc: &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(), Http: &mesospb.HealthCheck_HTTPCheckInfo{}}, want: "error"},
	}
	for name, c := range cases {
		p, err := Probe(c.hc)
		got := "error"
		switch {
		case err != nil:
		case p.Exec != nil:
			got = "exec:" + strings.Join(p.Exec.Command, " ")
		case p.TCPSocket != nil:
			got = "tcp:" + p.TCPSocket.Port.String()
		case p.HTTPGet != nil:
			got = "http:" + string(p.HTTPGet.Scheme) + ":" + p.HTTPGet.Port.String()
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", name, got, c.want)
		}
	}
}
