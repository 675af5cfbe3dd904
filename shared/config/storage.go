package config

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
}
