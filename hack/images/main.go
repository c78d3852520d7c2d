// Command images writes kubeoffer's images as docker-archive tarballs:
//
//	kubeoffer/master:dev, kubeoffer/agentd:dev,
//	kubeoffer/example-batch:dev, kubeoffer/example-service:dev
//	    one static binary each (built here with CGO_ENABLED=0), user 65532;
//	kubeoffer.local/pause:1
//	    the pod sandbox (./pause);
//	kubeoffer/busybox:local, also tagged docker.io/library/busybox:stable
//	    Debian's busybox-static with its applets: the task workload image,
//	    so the samples' busybox:stable runs without a pull.
//
// Usage (from the repository root):
//
//	go -C hack/images run . -repo "$PWD" -out bin/images
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonroot is distroless's non-root user, as in the Dockerfile.
const nonroot = "65532:65532"

type image struct {
	file  string
	tags  []string
	files []file
	cfg   v1.Config
}

type file struct {
	path string
	mode int64
	data []byte
	link string // symlink target, if set
}

func main() {
	repo := flag.String("repo", "..", "The kubeoffer repository.")
	out := flag.String("out", "bin/images", "Where the tarballs go.")
	busybox := flag.String("busybox", "/bin/busybox", "A static busybox (Debian's busybox-static).")
	flag.Parse()
	if err := run(*repo, *out, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(repo, out, busybox string) error {
	repo, _ = filepath.Abs(repo)
	if !filepath.IsAbs(out) {
		out = filepath.Join(repo, out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kubeoffer-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var images []image
	for _, b := range []struct{ image, binary, pkg string }{
		{"master", "kubeoffer-master", "."},
		{"agentd", "kubeoffer-agentd", "./agentd"},
		{"example-batch", "batch", "./examples/batch"},
		{"example-service", "service", "./examples/service"},
	} {
		bin := filepath.Join(tmp, b.binary)
		if err := goBuild(repo, bin, b.pkg); err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		images = append(images, image{file: b.image + ".tar", tags: []string{"kubeoffer/" + b.image + ":dev"},
			files: append(baseFiles(), file{path: b.binary, mode: 0o755, data: data}),
			cfg:   v1.Config{Entrypoint: []string{"/" + b.binary}, User: nonroot, Env: []string{"PATH=/"}}})
	}
	pause := filepath.Join(tmp, "pause")
	if err := goBuild(filepath.Join(repo, "hack", "images"), pause, "./pause"); err != nil {
		return err
	}
	data, err := os.ReadFile(pause)
	if err != nil {
		return err
	}
	images = append(images, image{file: "pause.tar", tags: []string{"kubeoffer.local/pause:1"},
		files: []file{{path: "pause", mode: 0o755, data: data}}, cfg: v1.Config{Entrypoint: []string{"/pause"}, User: nonroot}})

	bb, err := busyboxFiles(busybox)
	if err != nil {
		return err
	}
	images = append(images, image{file: "busybox.tar", tags: []string{"kubeoffer/busybox:local", "docker.io/library/busybox:stable"},
		files: append(baseFiles(), bb...), cfg: v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}})

	for _, im := range images {
		if err := write(filepath.Join(out, im.file), im); err != nil {
			return fmt.Errorf("%s: %w", im.file, err)
		}
		fmt.Printf("wrote %s (%s)\n", filepath.Join(out, im.file), strings.Join(im.tags, ", "))
	}
	return nil
}

func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// baseFiles are what distroless/static gives a program: users, /tmp.
func baseFiles() []file {
	return []file{
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "tmp/", mode: 0o1777},
		{path: "home/nonroot/", mode: 0o755},
	}
}

// busyboxFiles are /bin/busybox and a symlink per applet.
func busyboxFiles(path string) ([]file, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s (apt install busybox-static): %w", path, err)
	}
	list, err := exec.Command(path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", path, err)
	}
	files := []file{{path: "bin/busybox", mode: 0o755, data: data}}
	applets := strings.Fields(string(list))
	sort.Strings(applets)
	for _, a := range applets {
		if a != "busybox" {
			files = append(files, file{path: "bin/" + a, link: "busybox"})
		}
	}
	return files, nil
}

func write(path string, im image) error {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		b, err := layerTar(im.files)
		return io.NopCloser(bytes.NewReader(b)), err
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = im.cfg
	cf.Created = v1.Time{Time: time.Unix(0, 0)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range im.tags {
		ref, err := name.NewTag(t)
		if err != nil {
			return err
		}
		refs[ref] = img
	}
	return tarball.MultiRefWriteToFile(path, refs)
}

func layerTar(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(strings.TrimSuffix(f.path, "/")); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode}
		switch {
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		case strings.HasSuffix(f.path, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
