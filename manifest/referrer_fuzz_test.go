package manifest

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func FuzzReadReferrer(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/b","config":{"mediaType":"c","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"m","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}`))
	f.Add([]byte(`{"subject":{"digest":"sha256:nothex","size":-1}}`))
	f.Add([]byte(`{"subject":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body))}
		r, ok, err := ReadReferrer(desc, body)
		if err != nil && ok {
			t.Fatal("ok and an error")
		}
		if ok && (r.Subject.Digest.Validate() != nil || r.Subject.Size < 0 || r.Listed.Digest != desc.Digest) {
			t.Fatalf("accepted a bad subject or relabelled the referrer: %+v", r)
		}
	})
}
