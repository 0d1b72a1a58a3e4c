// The pipeline: wired up by the lead (see pipeline.h once it lands).
