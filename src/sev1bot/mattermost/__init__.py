"""mattermost"""
