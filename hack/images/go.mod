// Module images builds kubeoffer's container images without a Docker
// engine or a registry (neither exists on the offline machines): tarballs
// made with go-containerregistry that `ctr images import` loads into the
// local cluster's containerd. The Dockerfile stays the real-world build;
// these images have the same contents (static binaries, non-root user).
module github.com/kubeoffer/kubeoffer/hack/images

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
