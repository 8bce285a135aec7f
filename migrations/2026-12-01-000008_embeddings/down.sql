DROP TABLE IF EXISTS embedding_backlog;
DROP TABLE IF EXISTS job_embeddings;
DROP TABLE IF EXISTS talent_embeddings;
