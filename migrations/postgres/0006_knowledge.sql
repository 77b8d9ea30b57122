-- The knowledge base of an organisation: FAQ entries and policies the AI Agent answers from.

CREATE TABLE knowledge_documents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX knowledge_documents_by_org ON knowledge_documents(org_id, created_at);
