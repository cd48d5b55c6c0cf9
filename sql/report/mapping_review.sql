-- Mapping review list: lab test codes and drugs in the extract that look relevant to the
-- audit but are on no code list, so a site can complete its mapping (a local lab code goes
-- in the configuration's [local_test_codes]; a drug code in reference/concepts/drug_*.csv).
-- Looks relevant: the test code or name, or the drug code or name, matches (any case)
--   b12 / b-12 / b 12, cobalamin, folic, folate, mma (a whole word), methylmalon, homocyst;
--   and for a lab test also the context analytes: haemoglobin / hemoglobin, hb or hgb, mcv
--   (whole words), mean corpuscular, sedimentation, esr (whole word). A drug with a code
--   and no name cannot be judged by name: every such code on no list is listed, 'unnamed
--   code on no list' (a MEDS RxNorm/ or ATC/ code, say), so a site can check it.
-- Grain: one row per distinct (kind, code, name), with the number of rows it appears on.
--   lab test: a lab_results code (after local_test_codes) on no lab_* concept set;
--   drug: a medication whose class is 'other' (no code and no name pattern matched), or
--         whose code is on no list although its name matched ('matched by name only');
--   diagnosis code system: a code system the diagnoses use that has no concept list at all
--         (every code in it is ignored), with its number of rows.
-- Reads: diagnoses, lab_results, local_test_codes, medication_classes, ref_concepts
with lab_codes as (
    select code from ref_concepts where concept_set like 'lab\_%' escape '\'
),

labs as (
    select
        'lab test' as kind, l.test_code as code, l.test_name as name,
        'test code on no list' as status, count(*) as rows
    from lab_results as l
    left join local_test_codes as m on m.local_code = l.test_code
    where coalesce(m.loinc, l.test_code) not in (select code from lab_codes)
        and regexp_matches(lower(coalesce(l.test_code, '') || ' ' || coalesce(l.test_name, '')),
            'b[- ]?12|cobalamin|folic|folate|\bmma\b|methylmalon|homocyst'
            || '|ha?emoglobin|\bhg?b\b|\bmcv\b|mean corpuscular|sedimentation|\besr\b')
    group by all
),

drugs as (
    select
        'drug' as kind, drug_code as code, drug_name as name,
        case
            when drug_class <> 'other' then 'code on no list; matched by name only'
            when drug_name is null then 'unnamed code on no list'
            else 'on no list'
        end as status,
        count(*) as rows
    from medication_classes
    where (drug_class = 'other' or (matched_by = 'name' and drug_code is not null))
        and (
            (drug_class = 'other' and drug_name is null and drug_code is not null)
            or regexp_matches(lower(coalesce(drug_code, '') || ' ' || coalesce(drug_name, '')),
                'b[- ]?12|cobalamin|folic|folate|\bmma\b|methylmalon|homocyst')
        )
    group by all
),

diagnosis_systems as (
    select
        'diagnosis code system' as kind, code_system as code, null as name,
        'no concept list in this code system' as status, count(*) as rows
    from diagnoses
    where code_system not in (
        select distinct upper(system) from ref_concepts where concept_set like 'dx\_%' escape '\')
    group by all
)

select * from labs
union all
select * from drugs
union all
select * from diagnosis_systems
order by kind, rows desc, code, name
