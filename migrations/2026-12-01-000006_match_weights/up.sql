-- The weights a job's discover ranking uses: [{"factor": "SALARY_ALIGNMENT", "weight": 0.15}, …]
-- in factor order, summing to 1; NULL means the model's defaults.
ALTER TABLE jobs ADD COLUMN match_weights JSONB;
