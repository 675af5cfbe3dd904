package config

import (
	"errors"
	"fmt"
	"time"
)

// Storage configures where object bytes are kept.
type Storage struct {
	Backend     string `env:"STORAGE_BACKEND" default:"local" desc:"Object store: local (files under STORAGE_DIR) or s3."`
	Dir         string `env:"STORAGE_DIR" default:"./.madbase/storage" desc:"Folder for object bytes with the local backend."`
	S3Endpoint  string `env:"S3_ENDPOINT" desc:"S3 endpoint (host:port or URL) for the s3 backend, e.g. minio:9000."`
	S3Region    string `env:"S3_REGION" default:"us-east-1" desc:"S3 region."`
	S3Bucket    string `env:"S3_BUCKET" default:"madbase" desc:"S3 bucket holding every storage object."`
	S3AccessKey string `env:"S3_ACCESS_KEY" secret:"true" desc:"S3 access key id."`
	S3SecretKey string `env:"S3_SECRET_KEY" secret:"true" desc:"S3 secret access key."`
	S3UseSSL    bool   `env:"S3_USE_SSL" default:"false" desc:"Use HTTPS to reach S3."`

	SignedURLMaxExpiry time.Duration `env:"STORAGE_SIGNED_URL_MAX_EXPIRY" default:"8760h" desc:"Longest expiresIn accepted for signed download URLs."`
	SignedUploadTTL    time.Duration `env:"STORAGE_SIGNED_UPLOAD_TTL" default:"2h" desc:"How long a signed upload URL stays valid."`
	TUSExpiry          time.Duration `env:"STORAGE_TUS_EXPIRY" default:"1h" desc:"How long an unfinished resumable (TUS) upload may be resumed."`
	OrphanAge          time.Duration `env:"STORAGE_ORPHAN_AGE" default:"1h" desc:"Age after which stored bytes no object row points to (left by a crash) are deleted."`

	ImageTransformation bool  `env:"STORAGE_IMAGE_TRANSFORMATION_ENABLED" default:"true" desc:"Serve image transformations (/storage/v1/render/image/..., the transform option of download, getPublicUrl and createSignedUrl); off, those routes answer 404 and signed URLs ignore transform."`
	ImageMaxInputBytes  int64 `env:"STORAGE_IMAGE_MAX_INPUT_BYTES" default:"26214400" desc:"Largest source object an image transformation reads, in bytes (400 beyond it). Default 25 MiB."`
	ImageMaxPixels      int64 `env:"STORAGE_IMAGE_MAX_PIXELS" default:"50000000" desc:"Largest source resolution (width × height) an image transformation decodes (400 beyond it)."`
	ImageMaxDimension   int   `env:"STORAGE_IMAGE_MAX_DIMENSION" default:"2500" desc:"Largest width or height a transformation asks for; larger values are clamped to it, as storage-api does."`
	ImageConcurrency    int   `env:"STORAGE_IMAGE_CONCURRENCY" default:"0" desc:"Image transformations decoded at once per worker; more wait their turn (0: one per CPU). Bounds a worker's memory under many transformation requests."`
}

// Validate checks the storage timings (the backend choice is checked by
// Worker.Validate).
func (s *Storage) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"STORAGE_SIGNED_URL_MAX_EXPIRY", s.SignedURLMaxExpiry},
		{"STORAGE_SIGNED_UPLOAD_TTL", s.SignedUploadTTL},
		{"STORAGE_TUS_EXPIRY", s.TUSExpiry},
		{"STORAGE_ORPHAN_AGE", s.OrphanAge},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", d.name))
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"STORAGE_IMAGE_MAX_INPUT_BYTES", s.ImageMaxInputBytes},
		{"STORAGE_IMAGE_MAX_PIXELS", s.ImageMaxPixels},
		{"STORAGE_IMAGE_MAX_DIMENSION", int64(s.ImageMaxDimension)},
		{"STORAGE_IMAGE_CONCURRENCY", int64(s.ImageConcurrency)},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, not %d", n.name, n.v))
		}
	}
	return errors.Join(errs...)
}
