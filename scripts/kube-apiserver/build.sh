#!/bin/bash
# Builds the real kube-apiserver (v1.20.2) the operator's integration test
# runs against, offline, from Debian bookworm's `kubernetes` source package:
# no registry this project uses ships a kube-apiserver binary.
#
# Two fixes make the 1.20 tree build with Debian's Go 1.19: the vendored
# reflect2 1.0.1 (which crashes on Go >= 1.18) is replaced by Debian's
# 1.0.2, and the generated OpenAPI code (not in the tarball) is generated
# with the vendored openapi-gen. Needs root (apt-get install of
# golang-1.19-go, golang-github-modern-go-reflect2-dev, etcd-server).
# About 8 minutes on 2 cores the first time; cached (about 1.5 GB) under
# ${XDG_CACHE_HOME:-$HOME/.cache}/kube-apiserver-1.20, the binary in its bin/.
# Run by `just setup-kube`.
set -euo pipefail
W=${W:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-apiserver-1.20}; OUT=${OUT:-$W/bin}; mkdir -p $W/apt/lists/partial $W/apt/cache/archives/partial $OUT
if [ -x $OUT/kube-apiserver ] && [ -z "${REBUILD:-}" ]; then echo "$OUT/kube-apiserver"; exit 0; fi   # cached
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-1.19-go golang-github-modern-go-reflect2-dev etcd-server
# deb-src entries for the same mirror the machine already uses (deb822 sources)
mkdir -p $W/apt/sources.list.d
sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > $W/apt/sources.list.d/debian-src.sources
APTO="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$W/apt/sources.list.d -o Dir::State::Lists=$W/apt/lists -o Dir::Cache=$W/apt/cache"
apt-get $APTO update -q
cd $W && apt-get $APTO source --download-only kubernetes=1.20.5+really1.20.2-1.1+deb12u1
tar xzf kubernetes_1.20.5+really1.20.2.orig.tar.gz     # full k8s 1.20.2 tree incl. vendor/
mkdir -p $W/gp/src/k8s.io && ln -sfn $W/kubernetes-1.20.2 $W/gp/src/k8s.io/kubernetes
export PATH=/usr/lib/go-1.19/bin:$PATH GO111MODULE=off GOPATH=$W/gp GOCACHE=${GOCACHE:-$W/gocache} GOFLAGS= CGO_ENABLED=0
cd $W/gp/src/k8s.io/kubernetes
# 1) vendored reflect2 v1.0.1 segfaults with Go>=1.18 -> swap in Debian's 1.0.2
rm -rf vendor/github.com/modern-go/reflect2 && mkdir -p vendor/github.com/modern-go/reflect2
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s vendor/github.com/modern-go/reflect2/
rm -f vendor/github.com/modern-go/reflect2/*_test.go
# 2) pkg/generated/openapi is not in the tarball -> generate it (mirrors Makefile.generated_files)
go build -o $OUT/openapi-gen k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
find -H . -not \( \( -path ./_\* -o -path ./.\* -o -path ./vendor \) -prune \) -type f -name '*.go' \
  | sed 's|^./staging/src|vendor|; s|/[^/]*$||; s|^./||' | LC_ALL=C sort -u > $W/alldirs.txt
while read d; do case $d in vendor/k8s.io/code-generator/*|vendor/k8s.io/sample-apiserver/*) continue;; esac
  for f in $(find -H "$d" -maxdepth 1 -type f -name '*.go'); do
    if grep -q '^// *+k8s:' $f && grep -q '+k8s:openapi-gen=' $f; then echo $d; break; fi; done
done < $W/alldirs.txt | LC_ALL=C sort -u > $W/openapi_dirs.txt
$OUT/openapi-gen --logtostderr -i "$(sed 's|^|k8s.io/kubernetes/|' $W/openapi_dirs.txt | paste -sd, -)" \
  -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi -h hack/boilerplate/boilerplate.generatego.txt -r $W/openapi-report.txt
diff <(sort $W/openapi-report.txt) <(sort api/api-rules/violation_exceptions.list) && echo "openapi report matches upstream"
# 3) build
V=k8s.io/kubernetes/vendor/k8s.io
go build -ldflags "-s -w -X $V/component-base/version.gitVersion=v1.20.2 -X $V/component-base/version.gitMajor=1 -X $V/component-base/version.gitMinor=20 -X $V/component-base/version.gitTreeState=clean -X $V/client-go/pkg/version.gitVersion=v1.20.2" \
  -o $OUT/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
$OUT/kube-apiserver --version
echo "$OUT/kube-apiserver"
