-- sev1bot keeps its own database next to Mattermost's, with its own role.
CREATE ROLE sev1bot LOGIN PASSWORD 'sev1bot';
CREATE DATABASE sev1bot OWNER sev1bot;
