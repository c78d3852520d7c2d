package mesosapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// unsupportedCalls are the calls kubeoffer refuses, with why.
var unsupportedCalls = map[mesospb.Call_Type]string{
	mesospb.Call_MESSAGE:                      "MESSAGE is not supported: kubeoffer runs no executors to deliver framework messages to",
	mesospb.Call_SHUTDOWN:                     "SHUTDOWN is not supported: kubeoffer runs no custom executors; KILL the tasks instead",
	mesospb.Call_ACCEPT_INVERSE_OFFERS:        "ACCEPT_INVERSE_OFFERS is not supported: kubeoffer sends Mesos frameworks no inverse offers yet",
	mesospb.Call_DECLINE_INVERSE_OFFERS:       "DECLINE_INVERSE_OFFERS is not supported: kubeoffer sends Mesos frameworks no inverse offers yet",
	mesospb.Call_ACKNOWLEDGE_OPERATION_STATUS: "ACKNOWLEDGE_OPERATION_STATUS is not supported: kubeoffer supports no offer operations with feedback",
	mesospb.Call_RECONCILE_OPERATIONS:         "RECONCILE_OPERATIONS is not supported: kubeoffer supports no offer operations with feedback",
	mesospb.Call_UPDATE_FRAMEWORK:             "UPDATE_FRAMEWORK is not supported yet: resubscribe with the new FrameworkInfo (failover_timeout, capabilities and suppressed roles may change; the role may not)",
}

// serveCall serves every call but SUBSCRIBE: it must come from the
// framework's subscription (its Mesos-Stream-Id), is done at once, and is
// answered 202; its results come on the event stream.
func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, call *mesospb.Call, principal string, access Access) {
	if msg, ok := unsupportedCalls[call.GetType()]; ok {
		writeError(w, badRequest("%s", msg))
		return
	}
	if call.Type == nil || call.GetType() == mesospb.Call_UNKNOWN {
		writeError(w, badRequest("the call has no type (or one this API does not know)"))
		return
	}
	fid := call.GetFrameworkId().GetValue()
	if fid == "" {
		writeError(w, badRequest("a %s call needs framework_id", call.GetType()))
		return
	}
	sid := r.Header.Get(HeaderStreamID)
	if sid == "" {
		writeError(w, badRequest("a %s call needs the %s header of its subscription", call.GetType(), HeaderStreamID))
		return
	}
	st := s.lookup(types.NamespacedName{Namespace: access.Namespace, Name: fid})
	if st == nil {
		writeError(w, forbidden("framework %s is not subscribed (on this server): SUBSCRIBE first", fid))
		return
	}
	if st.id != sid {
		writeError(w, badRequest("%s %s is not framework %s's subscription", HeaderStreamID, sid, fid))
		return
	}
	if st.principal != principal {
		writeError(w, forbidden("framework %s subscribed as another principal", fid))
		return
	}
	if err := s.dispatch(r.Context(), st, call); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) dispatch(ctx context.Context, st *stream, call *mesospb.Call) error {
	switch call.GetType() {
	case mesospb.Call_TEARDOWN:
		return s.teardown(ctx, st)
	case mesospb.Call_ACCEPT:
		return s.accept(ctx, st, call.GetAccept())
	case mesospb.Call_DECLINE:
		d := call.GetDecline()
		return s.decline(ctx, st, d.GetOfferIds(), d.GetFilters())
	case mesospb.Call_REVIVE:
		return s.setOffers(ctx, st, call.GetRevive().GetRoles(), true)
	case mesospb.Call_SUPPRESS:
		return s.setOffers(ctx, st, call.GetSuppress().GetRoles(), false)
	case mesospb.Call_KILL:
		return s.kill(ctx, st, call.GetKill())
	case mesospb.Call_ACKNOWLEDGE:
		return s.acknowledge(ctx, st, call.GetAcknowledge())
	case mesospb.Call_RECONCILE:
		return s.reconcile(ctx, st, call.GetReconcile())
	case mesospb.Call_REQUEST:
		return nil // as Mesos's allocator: accepted and ignored
	}
	return badRequest("call type %s is not supported", call.GetType())
}

// teardown removes the framework: its Framework is deleted, so the master
// kills its tasks and rescinds its offers; the subscription ends.
func (s *Server) teardown(ctx context.Context, st *stream) error {
	fw := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: st.fw.Namespace, Name: st.fw.Name}}
	if err := client.IgnoreNotFound(s.client.Delete(ctx, fw)); err != nil {
		return fmt.Errorf("deleting framework %s: %w", st.fw, err)
	}
	s.log.Info("Tore down a Mesos framework", "framework", st.fw.String())
	st.cancel()
	return nil
}

// launchIDs lists the Mesos task ids an ACCEPT's operations launch.
func launchIDs(ops []*mesospb.Offer_Operation) []string {
	var ids []string
	for _, op := range ops {
		for _, t := range op.GetLaunch().GetTaskInfos() {
			ids = append(ids, t.GetTaskId().GetValue())
		}
		for _, t := range op.GetLaunchGroup().GetTaskGroup().GetTasks() {
			ids = append(ids, t.GetTaskId().GetValue())
		}
	}
	return ids
}

// accept serves ACCEPT: LAUNCH and LAUNCH_GROUP become Tasks on the offer;
// the offer is marked used (an offer id is used once), and the rest of it
// is declined with filters.refuse_seconds once the tasks are bound. Tasks
// kubeoffer cannot run get TASK_ERROR; launches on an unknown, foreign or
// used offer get TASK_DROPPED (TASK_LOST for frameworks that are not
// partition-aware), each with a message saying why.
func (s *Server) accept(ctx context.Context, st *stream, a *mesospb.Call_Accept) error {
	for _, op := range a.GetOperations() {
		switch op.GetType() {
		case mesospb.Offer_Operation_LAUNCH, mesospb.Offer_Operation_LAUNCH_GROUP:
		case mesospb.Offer_Operation_UNKNOWN:
			return badRequest("an offer operation has no type")
		default:
			return badRequest("offer operation %s is not supported: kubeoffer offers Mesos frameworks unreserved resources without volumes or disks, so only LAUNCH and LAUNCH_GROUP apply", op.GetType())
		}
		if op.Id != nil {
			return badRequest("offer operation ids (operation feedback) are not supported: drop Offer.Operation.id")
		}
	}
	refuse := DefaultRefuse
	if f := a.GetFilters(); f != nil && f.RefuseSeconds != nil {
		refuse = refuseDuration(f.GetRefuseSeconds())
	}
	names := make([]string, 0, len(a.GetOfferIds()))
	for _, id := range a.GetOfferIds() {
		names = append(names, id.GetValue())
	}
	st.answered(names...)
	ids := launchIDs(a.GetOperations())
	now := s.clock.Now()
	var refused []*mesospb.TaskStatus
	refuseAll := func(msg string) {
		for _, id := range ids {
			refused = append(refused, Refused(id, mesospb.TaskState_TASK_DROPPED, mesospb.TaskStatus_REASON_INVALID_OFFERS, msg, st.caps, now))
		}
	}
	defer func() { st.send(statusEvents(refused)...) }()

	var offers []*kov1.ResourceOffer
	var problems []string
	for _, name := range names {
		o := &kov1.ResourceOffer{}
		err := s.reader.Get(ctx, types.NamespacedName{Namespace: st.fw.Namespace, Name: name}, o)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && (o.Spec.FrameworkName != st.fw.Name || o.DeletionTimestamp != nil)):
			problems = append(problems, fmt.Sprintf("offer %s is unknown or gone (rescinded, expired or used)", name))
		case err != nil:
			return fmt.Errorf("reading offer %s: %w", name, err)
		case o.Spec.Decline != nil || o.Annotations[AnnotationAcceptedTasks] != "":
			problems = append(problems, fmt.Sprintf("offer %s was already used: an offer can be accepted or declined once", name))
		default:
			offers = append(offers, o)
		}
	}
	declineAll := func() error {
		var errs []error
		for _, o := range offers {
			errs = append(errs, s.declineOffer(ctx, st.fw, o.Name, refuse))
		}
		return errors.Join(errs...)
	}
	switch {
	case len(names) == 0 && len(ids) > 0:
		refuseAll("ACCEPT names no offer")
		return nil
	case len(problems) > 0:
		refuseAll(problems[0])
		return declineAll()
	case len(ids) == 0:
		return declineAll()
	case len(offers) > 1:
		refuseAll(fmt.Sprintf("ACCEPT names %d offers: kubeoffer launches on one offer per ACCEPT; accept each offer in its own call", len(offers)))
		return declineAll()
	}
	offer := offers[0]
	lc := LaunchContext{Namespace: st.fw.Namespace, Framework: st.fw.Name, Offer: offer, DefaultImage: s.cfg.DefaultImage}
	var tasks []*kov1.Task
	var taskIDs [][]string
	for _, op := range a.GetOperations() {
		if op.GetType() == mesospb.Offer_Operation_LAUNCH {
			for _, info := range op.GetLaunch().GetTaskInfos() {
				t, err := BuildTask(lc, []*mesospb.TaskInfo{info}, nil)
				if err != nil {
					refused = append(refused, Refused(info.GetTaskId().GetValue(), mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID, err.Error(), st.caps, now))
					continue
				}
				tasks, taskIDs = append(tasks, t), append(taskIDs, []string{info.GetTaskId().GetValue()})
			}
			continue
		}
		lg := op.GetLaunchGroup()
		gids := launchIDs([]*mesospb.Offer_Operation{op})
		t, err := BuildTask(lc, lg.GetTaskGroup().GetTasks(), lg.GetExecutor())
		if err != nil {
			for _, id := range gids {
				refused = append(refused, Refused(id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, err.Error(), st.caps, now))
			}
			continue
		}
		tasks, taskIDs = append(tasks, t), append(taskIDs, gids)
	}
	if len(tasks) == 0 {
		return declineAll()
	}
	if err := s.markUsed(ctx, offer, len(tasks), refuse); err != nil {
		if errors.Is(err, errOfferUsed) {
			refused = nil
			refuseAll(fmt.Sprintf("offer %s was already used: an offer can be accepted or declined once", offer.Name))
			return nil
		}
		return err
	}
	created := 0
	for i, t := range tasks {
		err := s.client.Create(ctx, t)
		if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
			// A create that failed on the way back may have been made.
			if s.reader.Get(ctx, client.ObjectKeyFromObject(t), &kov1.Task{}) == nil {
				err = nil
			}
		}
		if err == nil {
			created++
			continue
		}
		msg := "kubeoffer refused the task: " + err.Error()
		if apierrors.IsAlreadyExists(err) {
			msg = "the task id is already in use by this framework (Task " + t.Name + ")"
		}
		for _, id := range taskIDs[i] {
			refused = append(refused, Refused(id, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID, msg, st.caps, now))
		}
	}
	switch {
	case created == 0:
		return s.declineOffer(ctx, st.fw, offer.Name, refuse)
	case created < len(tasks):
		if err := s.markUsed(ctx, offer, -created, refuse); err != nil && !errors.Is(err, errOfferUsed) {
			return err
		}
	}
	st.wake()
	return nil
}

// errOfferUsed: another ACCEPT or a DECLINE answered the offer first.
var errOfferUsed = errors.New("offer already used")

// markUsed records on the offer that an ACCEPT created n tasks on it (with
// the refuse time for its rest). A negative n corrects the count of an
// ACCEPT already recorded to -n.
func (s *Server) markUsed(ctx context.Context, offer *kov1.ResourceOffer, n int, refuse time.Duration) error {
	return retryConflict(func() error {
		o := &kov1.ResourceOffer{}
		if err := s.reader.Get(ctx, client.ObjectKeyFromObject(offer), o); err != nil {
			if apierrors.IsNotFound(err) {
				return errOfferUsed
			}
			return err
		}
		if n >= 0 && (o.Spec.Decline != nil || o.Annotations[AnnotationAcceptedTasks] != "") {
			return errOfferUsed
		}
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[AnnotationAcceptedTasks] = strconv.Itoa(max(n, -n))
		o.Annotations[AnnotationRefuseSeconds] = strconv.FormatFloat(refuse.Seconds(), 'f', -1, 64)
		return s.client.Update(ctx, o)
	})
}

// decline serves DECLINE: each offer of the framework is declined with
// filters.refuse_seconds (default 5s); unknown offers are ignored, as in
// Mesos.
func (s *Server) decline(ctx context.Context, st *stream, ids []*mesospb.OfferID, f *mesospb.Filters) error {
	refuse := DefaultRefuse
	if f != nil && f.RefuseSeconds != nil {
		refuse = refuseDuration(f.GetRefuseSeconds())
	}
	var errs []error
	for _, id := range ids {
		st.answered(id.GetValue())
		errs = append(errs, s.declineOffer(ctx, st.fw, id.GetValue(), refuse))
	}
	return errors.Join(errs...)
}

// setOffers serves REVIVE (active) and SUPPRESS: with no roles, or with the
// framework's role among them, the Framework's offers become Active (and
// every decline filter is lifted) or Suppressed.
func (s *Server) setOffers(ctx context.Context, st *stream, roles []string, active bool) error {
	if len(roles) > 0 {
		mine := false
		for _, r := range roles {
			mine = mine || r == st.role
		}
		if !mine {
			return nil
		}
	}
	now := metav1.NewTime(s.clock.Now())
	return retryConflict(func() error {
		fw := &kov1.Framework{}
		if err := s.reader.Get(ctx, st.fw, fw); err != nil {
			return err
		}
		if active {
			fw.Spec.Offers, fw.Spec.RevivedAt = kov1.OfferModeActive, &now
		} else {
			if fw.Spec.Offers == kov1.OfferModeSuppressed {
				return nil
			}
			fw.Spec.Offers = kov1.OfferModeSuppressed
		}
		return s.client.Update(ctx, fw)
	})
}

// findTask is the Task that runs Mesos task id of the framework, or nil:
// from the cache, and, when the cache does not have it (a Task created a
// moment ago), from the API server, so that a KILL or RECONCILE right after
// a launch never reports a task lost that exists.
func (s *Server) findTask(ctx context.Context, st *stream, id string) (*kov1.Task, error) {
	return findTaskAmong(ctx, []taskSource{{s.client, indexTaskFramework}, {s.reader, "spec.frameworkName"}}, st.fw, id)
}

// taskSource is a reader of Tasks and the field it lists a framework's
// Tasks by: the cache's index, or the API server's selectable field.
type taskSource struct {
	reader client.Reader
	field  string
}

// findTaskAmong asks each source in turn.
func findTaskAmong(ctx context.Context, sources []taskSource, fw types.NamespacedName, id string) (*kov1.Task, error) {
	for _, src := range sources {
		t, err := findTaskIn(ctx, src.reader, src.field, fw, id)
		if t != nil || err != nil {
			return t, err
		}
	}
	return nil, nil
}

// findTaskIn looks for the Task by its name (a single task, or a group's
// first), then among the framework's Tasks (a group's other tasks).
func findTaskIn(ctx context.Context, r client.Reader, field string, fw types.NamespacedName, id string) (*kov1.Task, error) {
	runs := func(t *kov1.Task) bool {
		if t.Spec.FrameworkName != fw.Name {
			return false
		}
		for _, tid := range TaskIDs(t) {
			if tid == id {
				return true
			}
		}
		return false
	}
	t := &kov1.Task{}
	err := r.Get(ctx, types.NamespacedName{Namespace: fw.Namespace, Name: TaskName(fw.Name, id)}, t)
	if err == nil && runs(t) {
		return t, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	var l kov1.TaskList
	if err := r.List(ctx, &l, client.InNamespace(fw.Namespace), client.MatchingFields{field: fw.Name}); err != nil {
		return nil, err
	}
	for i := range l.Items {
		if runs(&l.Items[i]) {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

// kill serves KILL: a live task goes Killing (its agent stops the Pod
// within the grace period it was launched with and reports Killed); an
// unbound one is Killed at once. Killing one task of a group kills the
// group, as Mesos's default executor does. An unknown task gets TASK_LOST
// (TASK_UNKNOWN for partition-aware frameworks).
func (s *Server) kill(ctx context.Context, st *stream, k *mesospb.Call_Kill) error {
	id := k.GetTaskId().GetValue()
	t, err := s.findTask(ctx, st, id)
	if err != nil {
		return err
	}
	if t == nil {
		st.send(updateEvent(Unknown(id, k.GetAgentId().GetValue(), st.caps, s.clock.Now())))
		return nil
	}
	return retryConflict(func() error {
		cur := &kov1.Task{}
		if err := s.reader.Get(ctx, client.ObjectKeyFromObject(t), cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.Status.State.IsTerminal() || cur.Status.State == kov1.TaskKilling || cur.DeletionTimestamp != nil {
			return nil
		}
		state := kov1.TaskKilled
		if cur.Status.AgentName != "" {
			state = kov1.TaskKilling
		}
		taskstatus.Transition(&cur.Status, state, kov1.TaskReasonKilledByRequest, "killed by the framework (Mesos KILL of task "+id+")", s.clock.Now())
		return s.client.Status().Update(ctx, cur)
	})
}

// acknowledge serves ACKNOWLEDGE: the update the uuid names is recorded
// acknowledged on the Task, and the task's next update goes out. An
// acknowledgement of an unknown task or update is ignored, as in Mesos.
func (s *Server) acknowledge(ctx context.Context, st *stream, a *mesospb.Call_Acknowledge) error {
	if len(a.GetUuid()) != 16 {
		return badRequest("acknowledge.uuid must be the 16 bytes of the update's uuid, not %d bytes", len(a.GetUuid()))
	}
	id := a.GetTaskId().GetValue()
	t, err := s.findTask(ctx, st, id)
	if err != nil || t == nil {
		return err
	}
	err = retryConflict(func() error {
		cur := &kov1.Task{}
		if err := s.reader.Get(ctx, client.ObjectKeyFromObject(t), cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		v, ok := Acknowledge(cur, st.caps, id, a.GetUuid())
		if !ok {
			return nil
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[AnnotationAcknowledged] = v
		return s.client.Update(ctx, cur)
	})
	st.wake()
	return err
}

// reconcile serves RECONCILE: the latest state of each task named (TASK_LOST
// or TASK_UNKNOWN for unknown ones), or with no tasks, of every task that is
// live or has an unacknowledged update. These updates carry no uuid.
func (s *Server) reconcile(ctx context.Context, st *stream, r *mesospb.Call_Reconcile) error {
	now := s.clock.Now()
	var out []*mesospb.TaskStatus
	if len(r.GetTasks()) > 0 {
		for _, rt := range r.GetTasks() {
			id := rt.GetTaskId().GetValue()
			t, err := s.findTask(ctx, st, id)
			if err != nil {
				return err
			}
			if t == nil {
				out = append(out, Unknown(id, rt.GetAgentId().GetValue(), st.caps, now))
				continue
			}
			out = append(out, Latest(t, st.caps, id))
		}
		st.send(statusEvents(out)...)
		return nil
	}
	var l kov1.TaskList
	if err := s.client.List(ctx, &l, client.InNamespace(st.fw.Namespace), client.MatchingFields{indexTaskFramework: st.fw.Name}); err != nil {
		return err
	}
	for i := range l.Items {
		t := &l.Items[i]
		pending := map[string]bool{}
		for _, u := range Pending(t, st.caps) {
			pending[u.TaskID] = true
		}
		for _, id := range TaskIDs(t) {
			if !t.Status.State.IsTerminal() || pending[id] {
				out = append(out, Latest(t, st.caps, id))
			}
		}
	}
	st.send(statusEvents(out)...)
	return nil
}
