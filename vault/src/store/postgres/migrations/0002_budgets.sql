-- Use budgets per scope and window (principal quotas): one row per scope, its window and what
-- was reserved in it; a newer window starts again from zero.
CREATE TABLE budgets (
    scope       text COLLATE "C" PRIMARY KEY,
    win         bigint NOT NULL,
    used        bigint NOT NULL CHECK (used >= 0)
);
