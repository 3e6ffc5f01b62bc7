-- Promotions' stacking and reach (issue 12, pricing): what a promotion without terms is,
-- exclusive and reached through invite codes, until `PromotionTermsSet` changes it. No replay
-- needed: no log before this build holds terms.
ALTER TABLE rm_promotions ADD COLUMN stacking TEXT NOT NULL DEFAULT 'exclusive';
ALTER TABLE rm_promotions ADD COLUMN reach TEXT NOT NULL DEFAULT 'invite_code';
