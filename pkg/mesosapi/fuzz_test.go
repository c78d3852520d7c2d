package mesosapi

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// FuzzCallTranslation feeds arbitrary bodies to what a call goes through
// before the API server sees it: decoding (both encodings), the
// subscription's role and capabilities, and TaskInfo translation. Nothing
// may panic; whatever decodes must encode back.
func FuzzCallTranslation(f *testing.F) {
	accept := &mesospb.Call{Type: mesospb.Call_ACCEPT.Enum(), Accept: &mesospb.Call_Accept{
		OfferIds: []*mesospb.OfferID{{Value: proto.String("o1")}},
		Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
			Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{info("t1")}}}}}}
	b, _ := proto.Marshal(accept)
	f.Add(b, false)
	j, _ := MarshalJSON(accept)
	f.Add(j, true)
	f.Add([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["*"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`), true)
	f.Add([]byte(`{"type":"ACCEPT","accept":{"operations":[{"type":"LAUNCH_GROUP","launch_group":{"executor":{"executor_id":{"value":"e"},"type":"DEFAULT"},"task_group":{"tasks":[]}}}]}}`), true)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		enc := Protobuf
		if asJSON {
			enc = JSON
		}
		call, err := DecodeCall(enc, body)
		if err != nil {
			return
		}
		if _, err := MarshalJSON(call); err != nil {
			t.Fatalf("a decoded call does not encode: %v", err)
		}
		if fi := call.GetSubscribe().GetFrameworkInfo(); fi != nil {
			_, _ = subscribeRole(fi, Access{Namespace: "ns", Roles: []string{"*"}})
			_ = frameworkSpec(fi, "*", call.GetSubscribe().GetSuppressedRoles())
		}
		for _, op := range call.GetAccept().GetOperations() {
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				_, _ = BuildTask(lc(), []*mesospb.TaskInfo{ti}, nil)
			}
			if lg := op.GetLaunchGroup(); lg != nil {
				_, _ = BuildTask(lc(), lg.GetTaskGroup().GetTasks(), lg.GetExecutor())
			}
		}
		_ = refuseDuration(call.GetAccept().GetFilters().GetRefuseSeconds())
	})
}
