package mesosapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// Labels and annotations the Mesos API writes. They are how a Task, an
// offer or a Framework remembers what the Mesos side said, so that any
// replica (or a restarted one) can serve the framework.
const (
	// LabelFramework marks a Framework made through the Mesos API.
	LabelFramework = "mesos.kubeoffer.io/framework"
	// AnnotationPrincipal is the principal a Mesos framework subscribed as;
	// only that principal may resubscribe it.
	AnnotationPrincipal = "mesos.kubeoffer.io/principal"
	// AnnotationTaskIDs is a Task's Mesos task ids, a JSON list in the
	// order of its containers (one for LAUNCH, several for LAUNCH_GROUP).
	AnnotationTaskIDs = "mesos.kubeoffer.io/task-ids"
	// AnnotationExecutorID is the executor id of a task group's Task.
	AnnotationExecutorID = "mesos.kubeoffer.io/executor-id"
	// AnnotationLabels is the TaskInfo labels of a Task's Mesos tasks, a
	// JSON object of task id to key/value pairs.
	AnnotationLabels = "mesos.kubeoffer.io/labels"
	// AnnotationAcknowledged records, per Mesos task id, the last status
	// update the framework acknowledged (a JSON object of task id to
	// update key); later updates are resent until acknowledged.
	AnnotationAcknowledged = "mesos.kubeoffer.io/acknowledged"
	// AnnotationAcceptedTasks on a ResourceOffer is how many Tasks an
	// ACCEPT created on it: the offer was used (an offer id cannot be used
	// twice), and its rest is declined once they are all bound.
	AnnotationAcceptedTasks = "mesos.kubeoffer.io/accepted-tasks"
	// AnnotationRefuseSeconds on a ResourceOffer is the ACCEPT's
	// filters.refuse_seconds, applied when the rest is declined.
	AnnotationRefuseSeconds = "mesos.kubeoffer.io/refuse-seconds"
)

// SandboxPath is where a task's sandbox (Mesos's MESOS_SANDBOX) is mounted
// in every container of its Pod: an emptyDir the task's URIs are fetched
// into, and the containers' working directory.
const SandboxPath = "/mnt/mesos/sandbox"

// sandboxVolume is the name of the sandbox's emptyDir volume.
const sandboxVolume = "mesos-sandbox"

// LaunchContext is what a launch needs besides the TaskInfos.
type LaunchContext struct {
	// Namespace and Framework are the framework's namespace and name (its
	// Mesos framework id).
	Namespace, Framework string
	// Offer is the ResourceOffer the tasks are launched on.
	Offer *kov1.ResourceOffer
	// DefaultImage runs command tasks that name no image, and fetches URIs.
	DefaultImage string
}

// TaskName is the name of the Task that runs Mesos task id (the first task
// of a group) for framework: "<framework>.<id>" when that is a valid object
// name, otherwise the id made name-safe with 10 hex digits of its SHA-256,
// so that different ids never share a name. The name is deterministic: the
// same task id launched twice meets its own Task.
func TaskName(framework, taskID string) string {
	cand := framework + "." + taskID
	if len(validation.IsDNS1123Subdomain(cand)) == 0 {
		return cand
	}
	sum := sha256.Sum256([]byte(taskID))
	h := hex.EncodeToString(sum[:])[:10]
	if s := sanitizeName(taskID, 40); s != "" {
		return framework + "." + s + "-" + h
	}
	return framework + "." + h
}

// BuildTask translates a LAUNCH's TaskInfo (executor nil) or a
// LAUNCH_GROUP's task group (with its executor) into one Task on
// lc.Offer. A group is one Task with one container per Mesos task. It
// returns an error saying what kubeoffer cannot run and how to fix it.
func BuildTask(lc LaunchContext, infos []*mesospb.TaskInfo, executor *mesospb.ExecutorInfo) (*kov1.Task, error) {
	if len(infos) == 0 {
		return nil, fmt.Errorf("the task group has no tasks")
	}
	group := executor != nil
	role := MesosRole(lc.Offer.Spec.Role)
	var allResources []*mesospb.Resource
	if group {
		if err := checkExecutor(executor); err != nil {
			return nil, err
		}
		allResources = append(allResources, executor.GetResources()...)
	}
	ids := make([]string, 0, len(infos))
	seen := map[string]bool{}
	labels := map[string]map[string]string{}
	spec := corev1.PodSpec{Volumes: []corev1.Volume{{Name: sandboxVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
	var grace *int64
	var deadline *int64
	var uris []*mesospb.CommandInfo_URI
	for i, info := range infos {
		id := info.GetTaskId().GetValue()
		if id == "" {
			return nil, fmt.Errorf("a task has an empty task_id")
		}
		if seen[id] {
			return nil, fmt.Errorf("task id %q appears twice in the group", id)
		}
		seen[id] = true
		ids = append(ids, id)
		if a := info.GetAgentId().GetValue(); a != lc.Offer.Spec.AgentName {
			return nil, fmt.Errorf("task %s names agent %q but offer %s is on agent %q", id, a, lc.Offer.Name, lc.Offer.Spec.AgentName)
		}
		if info.Executor != nil {
			return nil, fmt.Errorf("task %s has an ExecutorInfo: custom executors are not supported; kubeoffer runs the task's CommandInfo (and ContainerInfo) itself, so drop TaskInfo.executor", id)
		}
		if info.Check != nil {
			return nil, fmt.Errorf("task %s has a CheckInfo: task checks are not supported; use health_check", id)
		}
		if len(info.GetLimits()) > 0 {
			return nil, fmt.Errorf("task %s sets limits: kubeoffer holds a task to exactly its resources (requests = limits); drop TaskInfo.limits", id)
		}
		allResources = append(allResources, info.GetResources()...)
		name := "task"
		if group {
			name = fmt.Sprintf("task-%d", i)
		}
		c, hostname, err := buildContainer(lc, info, name, executor)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
		if hostname != "" && !group {
			spec.Hostname = hostname
		}
		spec.Containers = append(spec.Containers, c)
		uris = append(uris, info.GetCommand().GetUris()...)
		if kp := info.GetKillPolicy().GetGracePeriod(); kp != nil {
			s := ceilSeconds(float64(kp.GetNanoseconds()) / 1e9)
			if grace == nil || s > *grace {
				grace = &s
			}
		}
		if mct := info.GetMaxCompletionTime(); mct != nil {
			s := max(1, ceilSeconds(float64(mct.GetNanoseconds())/1e9))
			if deadline == nil || s < *deadline {
				deadline = &s
			}
		}
		if ls := info.GetLabels().GetLabels(); len(ls) > 0 {
			m := map[string]string{}
			for _, l := range ls {
				m[l.GetKey()] = l.GetValue()
			}
			labels[id] = m
		}
	}
	rl, ports, err := TaskResources(allResources, role)
	if err != nil {
		return nil, err
	}
	if q, ok := rl[corev1.ResourceCPU]; !ok || q.Sign() <= 0 {
		return nil, fmt.Errorf("the task asks for no cpus: kubeoffer holds every task to a CPU and a memory limit, so give it cpus and mem")
	}
	if q, ok := rl[corev1.ResourceMemory]; !ok || q.Sign() <= 0 {
		return nil, fmt.Errorf("the task asks for no mem: kubeoffer holds every task to a CPU and a memory limit, so give it cpus and mem")
	}
	if len(uris) > 0 {
		fetch, err := fetchContainer(lc, uris)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", ids[0], err)
		}
		spec.InitContainers = []corev1.Container{fetch}
	}
	spec.ActiveDeadlineSeconds = deadline
	idsJSON, _ := json.Marshal(ids) // strings always marshal
	t := &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: TaskName(lc.Framework, ids[0]), Namespace: lc.Namespace,
			Annotations: map[string]string{AnnotationTaskIDs: string(idsJSON)}},
		Spec: kov1.TaskSpec{FrameworkName: lc.Framework, OfferName: lc.Offer.Name, Resources: rl, Ports: ports,
			Template: corev1.PodTemplateSpec{Spec: spec}, KillGracePeriodSeconds: grace},
	}
	if group {
		t.Annotations[AnnotationExecutorID] = executor.GetExecutorId().GetValue()
	}
	if len(labels) > 0 {
		b, _ := json.Marshal(labels) // maps of strings always marshal
		t.Annotations[AnnotationLabels] = string(b)
	}
	return t, nil
}

// checkExecutor accepts only Mesos's default executor for task groups.
func checkExecutor(e *mesospb.ExecutorInfo) error {
	if e.GetType() == mesospb.ExecutorInfo_CUSTOM || e.Command != nil {
		return fmt.Errorf("executor %s is a custom executor: custom executors are not supported; use the DEFAULT executor for task groups", e.GetExecutorId().GetValue())
	}
	if e.GetType() != mesospb.ExecutorInfo_DEFAULT {
		return fmt.Errorf("executor %s has no type: a task group needs ExecutorInfo.type DEFAULT", e.GetExecutorId().GetValue())
	}
	if e.Container != nil && e.GetContainer().GetType() != mesospb.ContainerInfo_MESOS {
		return fmt.Errorf("executor %s has a %s container: the default executor takes a MESOS container (network only), or none", e.GetExecutorId().GetValue(), e.GetContainer().GetType())
	}
	if e.Container != nil && (e.GetContainer().GetMesos().GetImage() != nil || len(e.GetContainer().GetVolumes()) > 0 || len(e.GetContainer().GetNetworkInfos()) > 0) {
		return fmt.Errorf("executor %s has a container with an image, volumes or networks: not supported; put images on the tasks", e.GetExecutorId().GetValue())
	}
	return nil
}

// buildContainer is the container that runs one Mesos task, and the Pod
// hostname its ContainerInfo asks for.
func buildContainer(lc LaunchContext, info *mesospb.TaskInfo, name string, executor *mesospb.ExecutorInfo) (corev1.Container, string, error) {
	c := corev1.Container{Name: name, WorkingDir: SandboxPath, ImagePullPolicy: corev1.PullIfNotPresent,
		VolumeMounts: []corev1.VolumeMount{{Name: sandboxVolume, MountPath: SandboxPath}}}
	img, pull, ports, hostname, hasImage, err := containerImage(info.GetContainer())
	if err != nil {
		return c, "", err
	}
	if !hasImage {
		img = lc.DefaultImage
	}
	c.Image, c.Ports = img, ports
	if pull != "" {
		c.ImagePullPolicy = pull
	}
	cmd := info.GetCommand()
	switch {
	case info.Command == nil && !hasImage:
		return c, "", fmt.Errorf("the task has no CommandInfo and no image: give it a command (or a container image whose entrypoint runs it)")
	case info.Command == nil:
	case cmd.GetShell():
		if cmd.GetValue() == "" {
			return c, "", fmt.Errorf("CommandInfo.shell is true but value is empty: give the shell command in value")
		}
		c.Command = []string{"sh", "-c", cmd.GetValue()}
	case cmd.GetValue() != "":
		c.Command = []string{cmd.GetValue()}
		if a := cmd.GetArguments(); len(a) > 1 {
			c.Args = append([]string(nil), a[1:]...)
		}
	default:
		if !hasImage {
			return c, "", fmt.Errorf("CommandInfo.shell is false and value is empty: give the executable in value (and argv in arguments)")
		}
		c.Args = append([]string(nil), cmd.GetArguments()...)
	}
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() == mesospb.Environment_Variable_SECRET || v.Secret != nil {
			return c, "", fmt.Errorf("environment variable %s is a secret: Mesos secrets are not supported; use a plain value", v.GetName())
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: v.GetName(), Value: v.GetValue()})
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "MESOS_SANDBOX", Value: SandboxPath},
		corev1.EnvVar{Name: "MESOS_TASK_ID", Value: info.GetTaskId().GetValue()},
		corev1.EnvVar{Name: "MESOS_FRAMEWORK_ID", Value: lc.Framework},
		corev1.EnvVar{Name: "MESOS_AGENT_ID", Value: lc.Offer.Spec.AgentName})
	if executor != nil {
		c.Env = append(c.Env, corev1.EnvVar{Name: "MESOS_EXECUTOR_ID", Value: executor.GetExecutorId().GetValue()})
	}
	if hc := info.GetHealthCheck(); hc != nil {
		p, err := Probe(hc)
		if err != nil {
			return c, "", err
		}
		c.LivenessProbe = p
	}
	return c, hostname, nil
}

// containerImage reads a ContainerInfo: the image, its pull policy, the
// container ports of a BRIDGE docker network, and the hostname. hasImage is
// false when the task runs in the default image.
func containerImage(ci *mesospb.ContainerInfo) (img string, pull corev1.PullPolicy, ports []corev1.ContainerPort, hostname string, hasImage bool, err error) {
	if ci == nil {
		return "", "", nil, "", false, nil
	}
	switch {
	case len(ci.GetVolumes()) > 0:
		return "", "", nil, "", false, fmt.Errorf("ContainerInfo.volumes are not supported: the task has its sandbox (MESOS_SANDBOX) only")
	case len(ci.GetNetworkInfos()) > 0:
		return "", "", nil, "", false, fmt.Errorf("ContainerInfo.network_infos are not supported: the task runs on the Pod network")
	case ci.LinuxInfo != nil:
		return "", "", nil, "", false, fmt.Errorf("ContainerInfo.linux_info is not supported: the namespace's Pod Security decides capabilities")
	case ci.RlimitInfo != nil:
		return "", "", nil, "", false, fmt.Errorf("ContainerInfo.rlimit_info is not supported")
	case ci.TtyInfo != nil:
		return "", "", nil, "", false, fmt.Errorf("ContainerInfo.tty_info is not supported: kubeoffer does not attach to task containers")
	}
	if h := ci.GetHostname(); h != "" {
		if errs := validation.IsDNS1123Label(h); len(errs) > 0 {
			return "", "", nil, "", false, fmt.Errorf("ContainerInfo.hostname %q is not a DNS label: %s", h, strings.Join(errs, "; "))
		}
		hostname = h
	}
	switch ci.GetType() {
	case mesospb.ContainerInfo_DOCKER:
		d := ci.GetDocker()
		if d.GetImage() == "" {
			return "", "", nil, "", false, fmt.Errorf("a DOCKER container needs docker.image")
		}
		switch {
		case d.GetPrivileged():
			return "", "", nil, "", false, fmt.Errorf("docker.privileged is not supported: tasks run under the namespace's Pod Security")
		case len(d.GetParameters()) > 0:
			return "", "", nil, "", false, fmt.Errorf("docker.parameters are not supported: there is no docker daemon to pass them to")
		case d.Network != nil && (d.GetNetwork() == mesospb.ContainerInfo_DockerInfo_NONE || d.GetNetwork() == mesospb.ContainerInfo_DockerInfo_USER):
			return "", "", nil, "", false, fmt.Errorf("docker network %s is not supported: the task runs on the Pod network (HOST and BRIDGE both mean that)", d.GetNetwork())
		}
		for _, pm := range d.GetPortMappings() {
			proto := corev1.ProtocolTCP
			switch strings.ToLower(pm.GetProtocol()) {
			case "", "tcp":
			case "udp":
				proto = corev1.ProtocolUDP
			default:
				return "", "", nil, "", false, fmt.Errorf("port mapping protocol %q is not tcp or udp", pm.GetProtocol())
			}
			if pm.GetContainerPort() == 0 || pm.GetContainerPort() > 65535 || pm.GetHostPort() > 65535 {
				return "", "", nil, "", false, fmt.Errorf("port mapping %d:%d is out of the port range", pm.GetHostPort(), pm.GetContainerPort())
			}
			ports = append(ports, corev1.ContainerPort{ContainerPort: int32(pm.GetContainerPort()), HostPort: int32(pm.GetHostPort()), Protocol: proto})
		}
		if d.GetForcePullImage() {
			pull = corev1.PullAlways
		}
		return d.GetImage(), pull, ports, hostname, true, nil
	case mesospb.ContainerInfo_MESOS:
		im := ci.GetMesos().GetImage()
		if im == nil {
			return "", "", nil, hostname, false, nil
		}
		if im.GetType() != mesospb.Image_DOCKER || im.GetDocker().GetName() == "" {
			return "", "", nil, "", false, fmt.Errorf("image type %s is not supported: give a DOCKER image", im.GetType())
		}
		if !im.GetCached() {
			pull = corev1.PullAlways
		}
		return im.GetDocker().GetName(), pull, nil, hostname, true, nil
	}
	return "", "", nil, "", false, fmt.Errorf("ContainerInfo.type %s is not supported: use MESOS or DOCKER", ci.GetType())
}

// Probe translates a Mesos health check into a liveness probe: COMMAND is
// an exec probe, HTTP an httpGet, TCP a tcpSocket; delay and grace period
// add up to the initial delay, interval is the period, consecutive
// failures the failure threshold. An unhealthy task's container is stopped
// (the Pod never restarts it), so the task fails, as Mesos kills it.
func Probe(hc *mesospb.HealthCheck) (*corev1.Probe, error) {
	p := &corev1.Probe{
		InitialDelaySeconds: int32(min(math.MaxInt32, ceilSeconds(hc.GetDelaySeconds()+hc.GetGracePeriodSeconds()))),
		PeriodSeconds:       int32(min(math.MaxInt32, max(1, ceilSeconds(hc.GetIntervalSeconds())))),
		TimeoutSeconds:      int32(min(math.MaxInt32, max(1, ceilSeconds(hc.GetTimeoutSeconds())))),
		FailureThreshold:    int32(min(math.MaxInt32, max(1, int64(hc.GetConsecutiveFailures())))),
	}
	t := hc.GetType()
	if hc.Type == nil { // before Mesos 1.2 the set field said which check it is
		switch {
		case hc.Command != nil:
			t = mesospb.HealthCheck_COMMAND
		case hc.Http != nil:
			t = mesospb.HealthCheck_HTTP
		case hc.Tcp != nil:
			t = mesospb.HealthCheck_TCP
		}
	}
	switch t {
	case mesospb.HealthCheck_COMMAND:
		cmd := hc.GetCommand()
		switch {
		case cmd.GetShell() && cmd.GetValue() != "":
			p.Exec = &corev1.ExecAction{Command: []string{"sh", "-c", cmd.GetValue()}}
		case !cmd.GetShell() && cmd.GetValue() != "":
			args := []string{cmd.GetValue()}
			if a := cmd.GetArguments(); len(a) > 1 {
				args = append(args, a[1:]...)
			}
			p.Exec = &corev1.ExecAction{Command: args}
		default:
			return nil, fmt.Errorf("the COMMAND health check has no command value")
		}
	case mesospb.HealthCheck_HTTP:
		h := hc.GetHttp()
		if h.GetPort() == 0 || h.GetPort() > 65535 {
			return nil, fmt.Errorf("the HTTP health check needs a port (1-65535)")
		}
		scheme := corev1.URISchemeHTTP
		if strings.EqualFold(h.GetScheme(), "https") {
			scheme = corev1.URISchemeHTTPS
		}
		p.HTTPGet = &corev1.HTTPGetAction{Port: intstr.FromInt32(int32(h.GetPort())), Path: h.GetPath(), Scheme: scheme}
	case mesospb.HealthCheck_TCP:
		if hc.GetTcp().GetPort() == 0 || hc.GetTcp().GetPort() > 65535 {
			return nil, fmt.Errorf("the TCP health check needs a port (1-65535)")
		}
		p.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(hc.GetTcp().GetPort()))}
	default:
		return nil, fmt.Errorf("the health check has no type (COMMAND, HTTP or TCP)")
	}
	return p, nil
}

// fetchContainer is the init container that fetches a task's URIs into the
// sandbox with the default image's wget (http, https and ftp), makes them
// executable and extracts archives as Mesos's fetcher does.
func fetchContainer(lc LaunchContext, uris []*mesospb.CommandInfo_URI) (corev1.Container, error) {
	var script strings.Builder
	script.WriteString("set -e\ncd " + shellQuote(SandboxPath) + "\n")
	for _, u := range uris {
		v := u.GetValue()
		scheme, _, ok := strings.Cut(v, "://")
		if !ok || !(scheme == "http" || scheme == "https" || scheme == "ftp") {
			return corev1.Container{}, fmt.Errorf("URI %q cannot be fetched: only http, https and ftp URIs can (the agent's files are not the Pod's)", v)
		}
		out := u.GetOutputFile()
		if out == "" {
			out = path.Base(strings.SplitN(strings.SplitN(v, "?", 2)[0], "#", 2)[0])
		}
		if out == "" || out == "." || out == "/" || strings.Contains(out, "..") || strings.HasPrefix(out, "/") {
			return corev1.Container{}, fmt.Errorf("URI %q has no usable file name: set output_file", v)
		}
		fmt.Fprintf(&script, "wget -q -O %s %s\n", shellQuote(out), shellQuote(v))
		if u.GetExecutable() {
			fmt.Fprintf(&script, "chmod +x %s\n", shellQuote(out))
		} else if u.GetExtract() {
			if x := extractCommand(out); x != "" {
				script.WriteString(strings.ReplaceAll(x, "%s", shellQuote(out)) + "\n")
			}
		}
	}
	return corev1.Container{Name: "fetch-uris", Image: lc.DefaultImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"sh", "-c", script.String()}, WorkingDir: SandboxPath,
		VolumeMounts: []corev1.VolumeMount{{Name: sandboxVolume, MountPath: SandboxPath}}}, nil
}

// extractCommand is the shell command (with %s for the file) that unpacks
// an archive by its extension, or "" for a file that is not one.
func extractCommand(name string) string {
	exts := map[string]string{
		".tar.gz": "tar -xzf %s", ".tgz": "tar -xzf %s", ".tar.bz2": "tar -xjf %s", ".tbz2": "tar -xjf %s",
		".tar.xz": "tar -xJf %s", ".txz": "tar -xJf %s", ".tar": "tar -xf %s", ".zip": "unzip -o -q %s", ".gz": "gunzip -f %s",
	}
	keys := make([]string, 0, len(exts))
	for k := range exts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) }) // .tar.gz before .gz
	for _, k := range keys {
		if strings.HasSuffix(name, k) {
			return exts[k]
		}
	}
	return ""
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ceilSeconds rounds a number of seconds up to whole seconds, at least 0.
func ceilSeconds(s float64) int64 {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int64(math.Ceil(s))
}

// TaskIDs reads a Task's Mesos task ids (nil for a Task not made through
// the Mesos API).
func TaskIDs(t *kov1.Task) []string {
	var ids []string
	if v, ok := t.Annotations[AnnotationTaskIDs]; ok {
		_ = json.Unmarshal([]byte(v), &ids) // a malformed annotation means no Mesos task
	}
	return ids
}
