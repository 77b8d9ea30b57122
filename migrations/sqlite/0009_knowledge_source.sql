-- A knowledge document may belong to a source (a label such as `spa`) that an AI Agent step
-- keeps its retrieval to.

ALTER TABLE knowledge_documents ADD COLUMN source TEXT;
