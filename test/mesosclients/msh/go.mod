// Module msh pins github.com/mesos/mesos-go v0.0.11's msh, a Mesos v1
// scheduler nobody here wrote, for the Mesos API tests. mesos-go predates Go
// modules, so its dependencies are pinned here, apart from the operator's.
module github.com/kubeoffer/kubeoffer/test/mesosclients/msh

go 1.26.0

tool github.com/mesos/mesos-go/api/v1/cmd/msh

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/mesos/mesos-go v0.0.11 // indirect
	github.com/pquerna/ffjson v0.0.0-20190930134022-aa0246cd15f7 // indirect
)
