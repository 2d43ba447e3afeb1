package registry

import "testing"

func FuzzDecodeReferrers(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"m","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"artifactType":"a"}]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:x","size":-1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		descs, err := decodeReferrers(body)
		if err != nil {
			return
		}
		for _, d := range descs {
			if d.Digest.Validate() != nil || d.Size < 0 {
				t.Fatalf("kept a descriptor that cannot be fetched: %+v", d)
			}
		}
	})
}
