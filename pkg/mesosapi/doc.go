// Package mesosapi serves Mesos's v1 scheduler HTTP API
// (POST /api/v1/scheduler) on kubeoffer's objects, so that unmodified Mesos
// frameworks run on a kubeoffer cluster: a SUBSCRIBE becomes a Framework in
// the namespace the framework's principal maps to, its offers are that
// Framework's ResourceOffers, its TaskInfos become Tasks, and its status
// updates are Task transitions, resent until acknowledged. Everything stays
// visible to kubectl and the master's allocator stays the only allocator.
//
// The translation is pure and table-tested (offer.go, task.go, status.go);
// the transport is in codec.go and recordio.go; server.go and stream.go move
// data between HTTP and the API server. docs/mesos-api.md lists every call,
// event and field with its status.
package mesosapi
