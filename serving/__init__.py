"""BentoML services: the campaign endpoint (``serving.service:CampaignService``)."""
